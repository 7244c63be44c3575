//! Each profile on accepted and rejected values.

use super::*;

fn norm(profile: &str, option: Option<&str>, value: &str) -> Result<String, Invalid> {
    Profile::parse(profile, option)
        .unwrap()
        .normalise(value)
        .map(|n| n.as_str().to_string())
}

#[test]
fn profile_names_versions_options_and_display() {
    assert_eq!(
        Profile::parse("NAME", Some("nospace+ascii"))
            .unwrap()
            .to_string(),
        "name@1:ascii+nospace"
    );
    assert_eq!(
        Profile::parse("zip", None).unwrap().to_string(),
        "zip@1:zip5"
    );
    assert_eq!(
        Profile::parse("phone", Some("gb")).unwrap().to_string(),
        "phone@1:GB"
    );
    assert_eq!(
        Profile::parse("date", None).unwrap().to_string(),
        "date@1:dmy"
    );
    assert_eq!(Profile::parse("raw", None).unwrap().to_string(), "raw@1");
    assert_eq!(Profile::parse("raw@1", None).unwrap(), Profile::Raw);
    assert_eq!(
        Profile::parse("email@1", Some("gmail")).unwrap(),
        Profile::Email(EmailOptions { gmail: true })
    );
    assert!(Profile::parse("email@2", None)
        .unwrap_err()
        .contains("version"));
    assert!(Profile::parse("email@x", None).is_err());
    assert!(Profile::parse("phone", Some("XX")).is_err());
    assert!(Profile::parse("raw", Some("x")).is_err());
    assert!(Profile::parse("postcode", Some("zip5")).is_err());
    assert!(Profile::parse("email", Some("gmail+x")).is_err());
    assert!(Profile::parse("name", Some("")).is_err());
    assert!(Profile::parse("soundex", None)
        .unwrap_err()
        .contains("raw, text, digits, email, phone, name, date, postcode, zip"));
    assert!(Profile::parse("date", Some("ymd")).is_err());
    assert!(Profile::parse("zip", Some("zip4")).is_err());
}

#[test]
fn email() {
    let e = |v| norm("email", None, v);
    let g = |v| norm("email", Some("gmail"), v);
    assert_eq!(
        e("  Jane.Doe+News@Example.COM ").unwrap(),
        "jane.doe+news@example.com"
    );
    assert_eq!(e("JANE@EXAMPLE.ORG").unwrap(), "jane@example.org");
    assert_eq!(
        g("Jane.Doe+News@GoogleMail.com").unwrap(),
        "janedoe@gmail.com"
    );
    assert_eq!(g("j.a.n.e@gmail.com").unwrap(), "jane@gmail.com");
    assert_eq!(g("J.A.N.E+spam+more@Gmail.COM").unwrap(), "jane@gmail.com");
    // Without the option, Gmail addresses are ordinary addresses.
    assert_eq!(e("j.a.n.e@gmail.com").unwrap(), "j.a.n.e@gmail.com");
    assert_eq!(
        g("jane.doe+x@example.com").unwrap(),
        "jane.doe+x@example.com"
    );
    assert_eq!(e("ａｂ@example.com").unwrap(), "ab@example.com");
    assert_eq!(e("a@example.com.").unwrap(), "a@example.com");
    assert_eq!(e("no-at-sign"), Err(Invalid::EmailShape));
    assert_eq!(e("a@b@c.com"), Err(Invalid::EmailShape));
    assert_eq!(e("@example.com"), Err(Invalid::EmailShape));
    assert_eq!(e("a@"), Err(Invalid::EmailShape));
    assert_eq!(e("a b@example.com"), Err(Invalid::EmailCharacter));
    assert_eq!(e("a@localhost"), Err(Invalid::EmailDomain));
    assert_eq!(e("a@x..com"), Err(Invalid::EmailDomain));
    assert_eq!(g("+tag@gmail.com"), Err(Invalid::EmailShape));
    assert_eq!(g("...@gmail.com"), Err(Invalid::EmailShape));
}

#[test]
fn phone() {
    let gb = |v| norm("phone", Some("GB"), v);
    let us = |v| norm("phone", Some("US"), v);
    assert_eq!(gb("020 7946 0018").unwrap(), "+442079460018");
    assert_eq!(gb("+44 (0)20 7946 0018").unwrap(), "+442079460018");
    assert_eq!(gb("0044 20 7946 0018").unwrap(), "+442079460018");
    assert_eq!(gb("(020) 7946-0018").unwrap(), "+442079460018");
    assert_eq!(gb("07911 123456").unwrap(), "+447911123456");
    assert_eq!(gb("07911.123.456").unwrap(), "+447911123456");
    // Ofcom's range for drama is not a real number.
    assert_eq!(gb("07700 900123"), Err(Invalid::PhoneInvalid));
    assert_eq!(us("(201) 555-0123").unwrap(), "+12015550123");
    assert_eq!(us("1 201 555 0123").unwrap(), "+12015550123");
    assert_eq!(us("1-201-555-0123").unwrap(), "+12015550123");
    assert_eq!(us("+1 (201) 555-0123").unwrap(), "+12015550123");
    // 00 means international whatever the region's own exit code is.
    assert_eq!(us("0044 20 7946 0018").unwrap(), "+442079460018");
    // Another country's number written internationally keeps its code.
    assert_eq!(gb("+1 201-555-0123").unwrap(), "+12015550123");
    assert_eq!(
        norm("phone", Some("DE"), "030 123456").unwrap(),
        "+4930123456"
    );
    assert_eq!(
        norm("phone", None, "+1 201-555-0123").unwrap(),
        "+12015550123"
    );
    assert_eq!(
        norm("phone", None, "020 7946 0018"),
        Err(Invalid::PhoneNeedsRegion)
    );
    assert_eq!(gb("not a phone"), Err(Invalid::PhoneLetters));
    assert_eq!(gb("1-800-FLOWERS"), Err(Invalid::PhoneLetters));
    assert_eq!(gb("+44 20 7946 0018 ext. 12"), Err(Invalid::PhoneLetters));
    assert_eq!(gb("020#7946#0018"), Err(Invalid::PhoneCharacter));
    assert_eq!(gb("44+20"), Err(Invalid::PhoneCharacter));
    assert_eq!(gb("12"), Err(Invalid::PhoneTooShort));
    assert_eq!(gb("+44 123"), Err(Invalid::PhoneTooShort));
    assert_eq!(gb("+999999999999999999999"), Err(Invalid::PhoneTooLong));
    assert_eq!(gb("020 7946 001"), Err(Invalid::PhoneInvalid));
    for weird in [
        "+",
        "++44",
        "+0",
        "00",
        "0000000000",
        "+0000000",
        "\u{0}\u{1}+1",
        "(((((((",
        "0",
        "+ - . ( ) /",
    ] {
        assert!(gb(weird).is_err(), "{weird}");
    }
}

#[test]
fn name() {
    let n = |v| norm("name", None, v);
    let a = |v| norm("name", Some("ascii"), v);
    assert_eq!(n("  Dr. José  MARÍA  ").unwrap(), "josé maría");
    assert_eq!(a("  Dr. José  MARÍA  ").unwrap(), "jose maria");
    assert_eq!(a("Søren Kierkegaard").unwrap(), "soren kierkegaard");
    assert_eq!(a("François Müller").unwrap(), "francois muller");
    assert_eq!(n("Mrs Jane Smith-Jones Jr.").unwrap(), "jane smith jones");
    assert_eq!(n("smith jones").unwrap(), n("Smith-Jones").unwrap());
    assert_eq!(n("O'Brien").unwrap(), "obrien");
    assert_eq!(n("O’BRIEN III").unwrap(), "obrien");
    assert_eq!(n("Martin Luther King, Jr.").unwrap(), "martin luther king");
    assert_eq!(n("Prof. Sir Ian Ii").unwrap(), "ian");
    assert_eq!(n("Straße").unwrap(), "strasse");
    assert_eq!(n("ＪＯＨＮ").unwrap(), "john");
    assert_eq!(n("José").unwrap(), n("Jose\u{301}").unwrap());
    assert_eq!(
        norm("name", Some("nospace"), "Van der Berg").unwrap(),
        "vanderberg"
    );
    assert_eq!(n("Dr. Mr."), Err(Invalid::NothingLeft));
    assert_eq!(n("..."), Err(Invalid::NothingLeft));
    assert_eq!(n("Drew Mrsic").unwrap(), "drew mrsic");
    assert_eq!(n("Ιωάννης").unwrap(), "ιωάννης");
}

#[test]
fn date() {
    let d = |v| norm("date", None, v);
    let us = |v| norm("date", Some("mdy"), v);
    assert_eq!(d("19560107").unwrap(), "1956-01-07");
    assert_eq!(d(" 1956-01-07 ").unwrap(), "1956-01-07");
    assert_eq!(d("1956/01/07").unwrap(), "1956-01-07");
    assert_eq!(d("1956-1-7").unwrap(), "1956-01-07");
    assert_eq!(d("07/01/1956").unwrap(), "1956-01-07");
    assert_eq!(d("07-01-1956").unwrap(), "1956-01-07");
    assert_eq!(d("07.01.1956").unwrap(), "1956-01-07");
    assert_eq!(d("7.1.1956").unwrap(), "1956-01-07");
    assert_eq!(us("01/07/1956").unwrap(), "1956-01-07");
    assert_eq!(us("01-07-1956").unwrap(), "1956-01-07");
    assert_eq!(us("7.1.1956").unwrap(), "1956-01-07");
    assert_eq!(us("1956-01-07").unwrap(), "1956-01-07");
    assert_eq!(us("13/01/1956"), Err(Invalid::DateNotInCalendar));
    assert_eq!(d("29/02/2000").unwrap(), "2000-02-29");
    assert_eq!(d("20240229").unwrap(), "2024-02-29");
    assert_eq!(d("29/02/1900"), Err(Invalid::DateNotInCalendar));
    assert_eq!(d("20230229"), Err(Invalid::DateNotInCalendar));
    assert_eq!(d("19561301"), Err(Invalid::DateNotInCalendar));
    assert_eq!(d("19560431"), Err(Invalid::DateNotInCalendar));
    assert_eq!(d("19560100"), Err(Invalid::DateNotInCalendar));
    assert_eq!(d("18790101"), Err(Invalid::DateYear));
    assert_eq!(d("18800101").unwrap(), "1880-01-01");
    assert_eq!(d("21001231").unwrap(), "2100-12-31");
    assert_eq!(d("21010101"), Err(Invalid::DateYear));
    assert_eq!(d("00000000"), Err(Invalid::DateNotInCalendar));
    for bad in [
        "195601",
        "1956.01.07",
        "07/01/56",
        "7.1.56",
        "a9560107",
        "+9560107",
        "07/01/1956/1",
        "07/01-1956",
        "１９５６０１０７x",
        "1956-001-07",
        "-1-1956",
        "//",
    ] {
        assert_eq!(d(bad), Err(Invalid::DateFormat), "{bad}");
    }
}

#[test]
fn postcode_zip_digits_text_raw() {
    assert_eq!(norm("postcode", None, " sw1a 1aa ").unwrap(), "SW1A1AA");
    assert_eq!(norm("postcode", None, "sw1a\t1aa").unwrap(), "SW1A1AA");
    assert_eq!(norm("postcode", None, "00-950").unwrap(), "00-950");
    assert_eq!(
        norm("postcode", None, "SW1A/1AA"),
        Err(Invalid::PostcodeCharacter)
    );
    assert_eq!(norm("postcode", None, "-"), Err(Invalid::NothingLeft));
    assert_eq!(norm("zip", None, "12345-6789").unwrap(), "12345");
    assert_eq!(norm("zip", None, "123456789").unwrap(), "12345");
    assert_eq!(norm("zip", Some("zip5"), " 12345 ").unwrap(), "12345");
    assert_eq!(norm("zip", Some("zip3"), "12345").unwrap(), "123");
    assert_eq!(norm("zip", Some("zip3"), "12345-6789").unwrap(), "123");
    assert_eq!(norm("zip", None, "1234"), Err(Invalid::ZipShape));
    assert_eq!(norm("zip", None, "123456"), Err(Invalid::ZipShape));
    assert_eq!(norm("zip", None, "12345-678"), Err(Invalid::ZipShape));
    assert_eq!(norm("zip", None, "1234-56789"), Err(Invalid::ZipShape));
    assert_eq!(norm("zip", None, "ABCDE"), Err(Invalid::ZipShape));
    assert_eq!(
        norm("digits", None, "+44 (20) 7946-0018").unwrap(),
        "442079460018"
    );
    assert_eq!(norm("digits", None, "１２３").unwrap(), "123");
    assert_eq!(norm("digits", None, "n/a"), Err(Invalid::NoDigits));
    assert_eq!(norm("text", None, " ﬁle ").unwrap(), "file");
    assert_eq!(norm("raw", None, " ﬁle ").unwrap(), "ﬁle");
    // raw keeps today's behaviour: any length.
    assert_eq!(norm("raw", None, &"x".repeat(2000)).unwrap().len(), 2000);
    assert_eq!(norm("text", None, &"x".repeat(2000)), Err(Invalid::TooLong));
}
