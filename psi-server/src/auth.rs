//! Who is on the other end: the identity a request is served under, and
//! partner tokens for those who run no PKI.
//!
//! A token file holds one line per partner, `NAME sha256:HEX`, the SHA-256 of
//! the partner's token; the token itself is printed once when made
//! ([`Tokens::make`]) and stored nowhere on the server. A presented token is
//! hashed and compared with every entry in constant time.

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// How a peer was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// No authentication is configured.
    Anonymous,
    /// The subject of a verified client certificate (mutual TLS).
    Certificate,
    /// A partner token.
    Token,
}

/// Who sent a request; sessions and linkages belong to the identity that
/// opened them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The partner's name (certificate subject or token name).
    pub name: String,
    /// How it was established.
    pub via: Via,
}

impl Identity {
    /// The identity of every request when no authentication is configured.
    pub fn anonymous() -> Self {
        Identity {
            name: "anonymous".into(),
            via: Via::Anonymous,
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.via {
            Via::Anonymous => f.write_str("anonymous"),
            Via::Certificate => write!(f, "certificate {}", self.name),
            Via::Token => write!(f, "token {}", self.name),
        }
    }
}

/// The prefix of every token (so a leaked one is easy to recognise).
const TOKEN_PREFIX: &str = "psi_";
/// Longest partner name.
const MAX_NAME: usize = 64;

/// A line of a token file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct TokenFileError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// The partners' token digests.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("partners", &self.entries.len())
            .finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

impl Tokens {
    /// Reads a token file (`NAME sha256:HEX` per line; `#` starts a comment).
    pub fn parse(text: &str) -> Result<Tokens, TokenFileError> {
        let mut entries: Vec<(String, [u8; 32])> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let bad = |reason: &str| TokenFileError {
                line: i + 1,
                reason: reason.to_string(),
            };
            let mut parts = line.split_whitespace();
            let (Some(name), Some(hash), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad("expected `NAME sha256:HEX`"));
            };
            if !valid_name(name) {
                return Err(bad("a name is 1 to 64 letters, digits or . _ - @"));
            }
            let hex = hash
                .strip_prefix("sha256:")
                .ok_or_else(|| bad("the digest must start with sha256:"))?;
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|j| {
                    hex.get(j..j + 2)
                        .and_then(|p| u8::from_str_radix(p, 16).ok())
                })
                .collect();
            let digest: [u8; 32] = bytes
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad("the digest must be 64 hex digits"))?;
            if entries.iter().any(|(n, _)| n == name) {
                return Err(bad(&format!("partner {name} is listed twice")));
            }
            entries.push((name.to_string(), digest));
        }
        Ok(Tokens { entries })
    }

    /// How many partners the file lists.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file lists no partner.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `name` is listed.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| n == name)
    }

    /// The partner whose token `presented` is. Every entry is compared, in
    /// constant time, whatever matches.
    pub fn identify(&self, presented: &str) -> Option<Identity> {
        let theirs = digest(presented);
        let mut found = subtle::Choice::from(0u8);
        let mut index = 0u32;
        for (i, (_, ours)) in self.entries.iter().enumerate() {
            let equal = ours.ct_eq(&theirs);
            index = u32::conditional_select(&index, &(i as u32), equal);
            found |= equal;
        }
        if !bool::from(found) {
            return None;
        }
        let (name, _) = self.entries.get(index as usize)?;
        Some(Identity {
            name: name.clone(),
            via: Via::Token,
        })
    }

    /// A new random token for `name`, and the line that stores its digest.
    /// Refuses a name that is not valid.
    pub fn make<R: RngCore + CryptoRng + ?Sized>(
        rng: &mut R,
        name: &str,
    ) -> Result<(String, String), TokenFileError> {
        if !valid_name(name) {
            return Err(TokenFileError {
                line: 0,
                reason: format!("partner name {name:?}: 1 to 64 letters, digits or . _ - @"),
            });
        }
        let mut secret = zeroize::Zeroizing::new([0u8; 32]);
        rng.fill_bytes(secret.as_mut());
        let token = format!("{TOKEN_PREFIX}{}", hex(secret.as_ref()));
        let line = format!("{name} sha256:{}", hex(&digest(&token)));
        Ok((token, line))
    }
}

/// A partner token held by a client: zeroized on drop, never printed.
#[derive(Clone)]
pub struct BearerToken(zeroize::Zeroizing<String>);

impl BearerToken {
    /// Reads a token (the first line of a token file; white space trimmed).
    /// `None` if it is empty or has characters a header cannot carry.
    pub fn parse(text: &str) -> Option<BearerToken> {
        let token = text.lines().next().unwrap_or_default().trim();
        let printable = token.bytes().all(|b| b.is_ascii_graphic());
        (!token.is_empty() && printable).then(|| BearerToken(token.to_string().into()))
    }

    /// The token, to put in a header.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

/// The token of an `Authorization: Bearer …` header value.
pub fn bearer(header: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, token) = text.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn made_tokens_identify_their_partner_only() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (alice, line_a) = Tokens::make(&mut rng, "alice").unwrap();
        let (bob, line_b) = Tokens::make(&mut rng, "bob.example").unwrap();
        assert!(alice.starts_with("psi_") && alice.len() == 68);
        let file = format!("# partners\n{line_a}\n\n{line_b}  # second\n");
        let tokens = Tokens::parse(&file).unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens.identify(&alice).unwrap().name, "alice");
        assert_eq!(tokens.identify(&bob).unwrap().name, "bob.example");
        assert_eq!(tokens.identify("psi_00"), None);
        assert_eq!(tokens.identify(""), None);
        // The file holds digests, never tokens.
        assert!(!file.contains(&alice[4..]));
    }

    #[test]
    fn bad_token_files_name_the_line() {
        let good = "a sha256:".to_string() + &"0".repeat(64);
        for (text, line) in [
            ("alice", 1),
            ("\nalice md5:00", 2),
            ("al ice sha256:00", 1),
            ("alice sha256:zz", 1),
            ("alice sha256:0000", 1),
            ("bad/name sha256:00", 1),
        ] {
            assert_eq!(Tokens::parse(text).unwrap_err().line, line, "{text}");
        }
        let twice = format!("{good}\n{good}");
        assert!(Tokens::parse(&twice).unwrap_err().reason.contains("twice"));
        assert!(Tokens::make(&mut rand::rng(), "no spaces").is_err());
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer(b"Bearer psi_ab"), Some("psi_ab"));
        assert_eq!(bearer(b"bearer  psi_ab "), Some("psi_ab"));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(&[0xff, 0x20, 0x41]), None);
    }
}
