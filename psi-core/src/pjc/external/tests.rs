//! The streaming roles against the plaintext answer and against the
//! in-memory roles, with the caller's files as vectors in memory and every
//! message through the codec.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::*;
use crate::codec::Codec;

fn item(v: u32) -> Item {
    Item::from_key(&v.to_be_bytes())
}

fn rt<M: Codec>(m: &M) -> M {
    M::from_bytes(&m.to_bytes()).unwrap()
}

/// How a test run cuts its streams and files.
#[derive(Clone, Copy)]
struct Cut {
    chunk: usize,
    shuffle_files: usize,
    prefix_files: usize,
}

/// What the parties learned: the counter's view of the count and, in the
/// sums, the output party's count and sum.
#[derive(Debug, PartialEq, Eq)]
struct Learned {
    counter: Outcome<u64>,
    sum: Option<Outcome<SumOutput>>,
}

/// Random-file scatter, then a shuffle of each file: the external shuffle
/// a caller does, in memory.
fn external_shuffle<T: Clone>(records: Vec<T>, files: usize, rng: &mut ZeroizingRng) -> Vec<T> {
    let mut scattered: Vec<Vec<T>> = vec![Vec::new(); files];
    for r in records {
        scattered[rng.random_range(0..files)].push(r);
    }
    let mut out = Vec::new();
    for mut f in scattered {
        f.shuffle(rng);
        out.extend(f);
    }
    out
}

fn run_streaming(
    counter: &[Item],
    responder: &[(Item, u64)],
    params: &Params,
    cut: Cut,
    seed: u64,
) -> Result<Learned, Error> {
    let limits = Limits::default();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let sum = params.is_sum();
    let total = sum.then(|| responder.iter().map(|r| r.1).sum::<u64>());
    let (c_state, c_hello) =
        StreamingCounter::start(&mut rng, counter.len() as u64, params, &limits)?;
    let (r_hello, rs) = StreamingResponder::accept(
        &mut rng,
        responder.len() as u64,
        total,
        params,
        rt(&c_hello),
        &limits,
    )?;
    let mut cs = c_state.receive(rt(&r_hello))?;
    cs.tags.set_files(cut.prefix_files)?;

    // Counter → responder, answers scattered.
    let mut answerer = rs.answerer;
    let mut shuffle = answerer.shuffle_rng();
    let mut answers = Vec::new();
    for chunk in counter.chunks(cut.chunk) {
        let msg = cs.masker.mask(chunk)?;
        let msg = PointChunk::decode(PointStream::CounterMasked, &msg.to_bytes()).unwrap();
        answers.extend(answerer.receive(msg)?);
    }
    cs.masker.finish()?;
    let chunker = answerer.finish()?;
    let answers = external_shuffle(answers, cut.shuffle_files, &mut shuffle);

    // Responder → counter: the answers, into prefix files.
    let mut router = cs.tags;
    let mut own: Vec<Vec<u128>> = vec![Vec::new(); router.files()];
    for c in answers.chunks(cut.chunk) {
        for t in router.receive(rt(&chunker.chunk(c)?))? {
            own[router.prefix(t)].push(t);
        }
    }
    let mut queries = router.finish()?;

    // Responder → counter: its set, shuffled, into the same prefix files.
    let mut masker = rs.masker;
    let mut order = masker.order_rng();
    let set = external_shuffle(responder.to_vec(), cut.shuffle_files, &mut order);
    let mut stored: Vec<Vec<u8>> = vec![Vec::new(); own.len()];
    for c in set.chunks(cut.chunk) {
        let items: Vec<Item> = c.iter().map(|r| r.0).collect();
        let values: Vec<u64> = c.iter().map(|r| r.1).collect();
        for q in queries.receive(rt(&masker.mask(&items, &values)?))? {
            q.write(sum, &mut stored[queries.prefix(q.tag)]);
        }
    }
    masker.finish()?;
    let mut tally = queries.finish()?;
    for (p, (tags, bytes)) in own.into_iter().zip(&stored).enumerate() {
        let qs: Vec<Query> = bytes
            .chunks_exact(Query::record_len(sum))
            .map(|r| Query::read(r, sum).unwrap())
            .collect();
        tally.add_prefix(p, tags, &qs)?;
    }
    finale(tally.finish()?, rs.finale)
}

/// The last messages, as the in-memory roles exchange them.
fn finale(finish: CounterFinish, responder: ResponderFinale) -> Result<Learned, Error> {
    match (finish, responder) {
        (CounterFinish::Cardinality(count), ResponderFinale::Nothing) => Ok(Learned {
            counter: count,
            sum: None,
        }),
        (CounterFinish::SendSum { message, count }, ResponderFinale::ExpectSum(r)) => Ok(Learned {
            counter: count,
            sum: Some(r.receive(rt(&message))?),
        }),
        (CounterFinish::SendMaskedSum { message, next }, ResponderFinale::Decrypt(r)) => {
            let out = next.receive(rt(&r.receive(rt(&message))?))?;
            Ok(Learned {
                counter: out.map(|o| o.count),
                sum: Some(out),
            })
        }
        _ => Err(Error::Misuse("the roles disagree on the protocol")),
    }
}

fn plaintext(counter: &[Item], responder: &[(Item, u64)], params: &Params) -> Learned {
    let theirs: HashMap<Item, u64> = responder.iter().copied().collect();
    let count = counter.iter().filter(|x| theirs.contains_key(x)).count() as u64;
    let sum: u64 = counter.iter().filter_map(|x| theirs.get(x)).sum();
    let met = count >= params.min_intersection;
    let gate = |o: Outcome<()>| if met { o } else { Outcome::ThresholdNotMet };
    Learned {
        counter: gate(Outcome::Released(())).map(|()| count),
        sum: params
            .is_sum()
            .then(|| gate(Outcome::Released(())).map(|()| SumOutput { count, sum })),
    }
}

/// Sets of sizes `a` and `b` sharing `shared` keys; values below 1000.
fn sets(a: u32, b: u32, shared: u32, seed: u64) -> (Vec<Item>, Vec<(Item, u64)>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let counter: Vec<Item> = (0..a).map(item).collect();
    let responder = (a - shared..a - shared + b)
        .map(|v| (item(v), rng.random_range(0..1000)))
        .collect();
    (counter, responder)
}

const PROTOCOLS: [Protocol; 3] = [
    Protocol::Cardinality,
    Protocol::SumToValueHolder,
    Protocol::SumToKeyHolder,
];

#[test]
fn streaming_roles_give_the_plaintext_answer() {
    let cases = [
        // (|X|, |Y|, shared, chunk, shuffle files, prefix files)
        (0, 0, 0, 7, 1, 1),
        (0, 5, 0, 7, 4, 2),
        (5, 0, 0, 7, 4, 2),
        (1, 1, 1, 1, 1, 1),
        (40, 40, 40, 7, 4, 8),   // full overlap
        (64, 64, 0, 16, 2, 4),   // disjoint, chunk boundary exact
        (65, 63, 30, 16, 8, 16), // one past / one short of a chunk
        (200, 150, 75, 33, 16, 32),
    ];
    for (i, &(a, b, shared, chunk, shuffle_files, prefix_files)) in cases.iter().enumerate() {
        let (x, y) = sets(a, b, shared, i as u64);
        let cut = Cut {
            chunk,
            shuffle_files,
            prefix_files,
        };
        for protocol in PROTOCOLS {
            for threshold in [0, u64::from(shared), u64::from(shared) + 1] {
                let params = Params::new(protocol, threshold);
                let got = run_streaming(&x, &y, &params, cut, i as u64 * 7 + threshold).unwrap();
                assert_eq!(
                    got,
                    plaintext(&x, &y, &params),
                    "case {i}, {protocol}, threshold {threshold}"
                );
            }
        }
    }
}

#[test]
fn the_streaming_counter_sends_what_the_in_memory_counter_sends() {
    let (x, y) = sets(300, 200, 120, 9);
    let limits = Limits::default();
    for protocol in PROTOCOLS {
        let params = Params::new(protocol, 10);
        let sum = params.is_sum();
        let values: Vec<u64> = y.iter().map(|r| r.1).collect();
        let items: Arc<[Item]> = y.iter().map(|r| r.0).collect();
        // Two identical responders (same seed), one per counter.
        let responder = || {
            let mut rng = ChaCha20Rng::seed_from_u64(5);
            Responder::start(
                &mut rng,
                items.clone(),
                sum.then(|| Arc::from(values.clone())),
                &params,
                &limits,
            )
            .unwrap()
        };
        let (r1, r_hello) = responder();
        let (r2, _) = responder();
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let (c1, h1) = Counter::start(&mut rng, x.clone(), &params, &limits).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let (c2, h2) = StreamingCounter::start(&mut rng, x.len() as u64, &params, &limits).unwrap();
        assert_eq!(h1.to_bytes(), h2.to_bytes());
        let (s1, s2) = (r1.receive(h1).unwrap(), r2.receive(h2).unwrap());
        let mut c1 = c1.receive(r_hello.clone()).unwrap();
        let mut c2 = c2.receive(r_hello).unwrap();
        c2.tags.set_files(8).unwrap();
        c1.masker.set_chunk_items(64);
        let (mut a1, mut a2) = (s1.answerer, s2.answerer);
        for chunk in x.chunks(64) {
            let m1 = c1.masker.next_chunk().unwrap();
            let m2 = c2.masker.mask(chunk).unwrap();
            assert_eq!(m1.to_bytes(), m2.to_bytes());
            a1.receive(m1).unwrap();
            a2.receive(m2).unwrap();
        }
        assert!(c1.masker.next_chunk().is_none());
        let (mut t1, mut t2) = (a1.finish().unwrap(), a2.finish().unwrap());
        let mut own = vec![Vec::new(); c2.tags.files()];
        while let Some(chunk) = t1.next_chunk() {
            assert_eq!(chunk, t2.next_chunk().unwrap());
            c1.tags.receive(chunk.clone()).unwrap();
            for t in c2.tags.receive(chunk).unwrap() {
                own[c2.tags.prefix(t)].push(t);
            }
        }
        let mut set1 = c1.tags.finish().unwrap();
        let mut router = c2.tags.finish().unwrap();
        let mut stored = vec![Vec::new(); own.len()];
        let (mut m1, mut m2) = (s1.masker, s2.masker);
        while let Some(chunk) = m1.next_chunk() {
            assert_eq!(chunk, m2.next_chunk().unwrap());
            set1.receive(chunk.clone()).unwrap();
            for q in router.receive(chunk).unwrap() {
                stored[router.prefix(q.tag)].push(q);
            }
        }
        let mut tally = router.finish().unwrap();
        for (p, (tags, qs)) in own.into_iter().zip(&stored).enumerate() {
            tally.add_prefix(p, tags, qs).unwrap();
        }
        match (set1.finish().unwrap(), tally.finish().unwrap()) {
            (CounterFinish::Cardinality(a), CounterFinish::Cardinality(b)) => assert_eq!(a, b),
            (
                CounterFinish::SendSum { message: a, count },
                CounterFinish::SendSum {
                    message: b,
                    count: c,
                },
            ) => {
                assert_eq!(a.to_bytes(), b.to_bytes());
                assert_eq!(count, c);
            }
            (
                CounterFinish::SendMaskedSum { message: a, .. },
                CounterFinish::SendMaskedSum { message: b, .. },
            ) => assert_eq!(a.to_bytes(), b.to_bytes()),
            _ => panic!("{protocol}: the two counters finish differently"),
        }
    }
}

#[test]
fn misuse_and_bad_files_are_errors() {
    let (x, y) = sets(20, 20, 10, 3);
    let limits = Limits::default();
    let params = Params::new(Protocol::Cardinality, 0);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (c, h) = StreamingCounter::start(&mut rng, x.len() as u64, &params, &limits).unwrap();
    let (rh, rs) = StreamingResponder::accept(&mut rng, 20, None, &params, h, &limits).unwrap();
    let mut cs = c.receive(rh).unwrap();
    assert!(cs.tags.set_files(3).is_err());
    assert!(cs.tags.set_files(2 * MAX_FILES).is_err());
    cs.tags.set_files(2).unwrap();
    // More items than announced.
    assert!(cs.masker.mask(&[x.clone(), x.clone()].concat()).is_err());
    let mut answerer = rs.answerer;
    answerer.receive(cs.masker.mask(&x).unwrap()).unwrap();
    let chunker = answerer.finish().unwrap();
    let mut router = cs.tags;
    // A tag stored under the wrong prefix is refused when counted.
    let tags = router.receive(chunker.chunk(&[1, 2, 3]).unwrap()).unwrap();
    assert_eq!(tags, vec![1, 2, 3]);
    assert!(router.finish().is_err(), "17 tags missing");
    // The responder's values must fit their announced total.
    let sum = Params::new(Protocol::SumToValueHolder, 0);
    let (c, h) = StreamingCounter::start(&mut rng, 1, &sum, &limits).unwrap();
    let (_, mut rs) = StreamingResponder::accept(&mut rng, 2, Some(5), &sum, h, &limits).unwrap();
    drop(c);
    let items: Vec<Item> = y.iter().take(2).map(|r| r.0).collect();
    assert!(rs.masker.mask(&items, &[3, 3]).is_err());
    assert!(matches!(
        rs.masker.mask(&items[..1], &[MAX_VALUE + 1]),
        Err(Error::ValueOutOfRange { .. })
    ));
}

#[test]
fn prefix_files_are_counted_in_order_and_checked() {
    let params = Params::new(Protocol::Cardinality, 0);
    let limits = Limits::default();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (c, h) = StreamingCounter::start(&mut rng, 0, &params, &limits).unwrap();
    let (rh, rs) = StreamingResponder::accept(&mut rng, 0, None, &params, h, &limits).unwrap();
    let mut cs = c.receive(rh).unwrap();
    cs.tags.set_files(2).unwrap();
    rs.answerer.finish().unwrap();
    let mut tally = cs.tags.finish().unwrap().finish().unwrap();
    assert!(
        tally.add_prefix(1, Vec::new(), &[]).is_err(),
        "out of order"
    );
    assert!(
        tally.add_prefix(0, vec![1], &[]).is_err(),
        "tag 1 is prefix 1"
    );
    tally.add_prefix(0, Vec::new(), &[]).unwrap();
    tally.add_prefix(1, Vec::new(), &[]).unwrap();
    assert!(matches!(
        tally.finish(),
        Ok(CounterFinish::Cardinality(Outcome::Released(0)))
    ));
}

#[test]
fn files_for_is_a_bounded_power_of_two() {
    assert_eq!(files_for(0), 1);
    assert_eq!(files_for(ITEMS_PER_FILE), 1);
    assert_eq!(files_for(ITEMS_PER_FILE + 1), 2);
    assert_eq!(files_for(100_000_000), 128);
    assert_eq!(files_for(u64::MAX), MAX_FILES);
}

/// A resumed stream: a counter rebuilt from the same generator skips what
/// the responder holds and masks the rest exactly as an uninterrupted one;
/// a rewound responder masker that skips chunks sends the same bytes after
/// them (the nonces come from the chunk's position); the routers resume at
/// a count and carry the positions on.
#[test]
fn resumed_streams_send_the_same_bytes() {
    let (x, y) = sets(90, 70, 30, 4);
    let limits = Limits::default();
    for protocol in PROTOCOLS {
        let params = Params::new(protocol, 0);
        let sum = params.is_sum();
        let total = sum.then(|| y.iter().map(|r| r.1).sum::<u64>());
        let start = || {
            let mut rng = ChaCha20Rng::seed_from_u64(21);
            StreamingCounter::start(&mut rng, x.len() as u64, &params, &limits).unwrap()
        };
        let (c1, hello) = start();
        let (c2, hello2) = start();
        assert_eq!(
            hello.to_bytes(),
            hello2.to_bytes(),
            "same generator, same hello"
        );
        let mut rng = ChaCha20Rng::seed_from_u64(22);
        let (r_hello, rs) =
            StreamingResponder::accept(&mut rng, y.len() as u64, total, &params, hello, &limits)
                .unwrap();
        let mut s1 = c1.receive(r_hello.clone()).unwrap();
        let mut s2 = c2.receive(r_hello).unwrap();
        let whole: Vec<Vec<u8>> = x
            .chunks(16)
            .map(|c| s1.masker.mask(c).unwrap().to_bytes())
            .collect();
        s2.masker.skip(32).unwrap();
        let rest: Vec<Vec<u8>> = x[32..]
            .chunks(16)
            .map(|c| s2.masker.mask(c).unwrap().to_bytes())
            .collect();
        assert_eq!(
            rest,
            whole[2..],
            "{protocol}: the counter resumes at item 32"
        );
        assert!(s2.masker.skip(1).is_err(), "past the announced count");
        s2.masker.finish().unwrap();

        let mut masker = rs.masker;
        let items: Vec<Item> = y.iter().map(|r| r.0).collect();
        let values: Vec<u64> = y.iter().map(|r| r.1).collect();
        let mut first = Vec::new();
        for (c, v) in items.chunks(16).zip(values.chunks(16)) {
            first.push(masker.mask(c, v).unwrap());
        }
        masker.rewind();
        for (c, v) in items.chunks(16).zip(values.chunks(16)).take(3) {
            masker.skip(c.len(), v).unwrap();
        }
        for (k, (c, v)) in items.chunks(16).zip(values.chunks(16)).enumerate().skip(3) {
            assert_eq!(
                masker.mask(c, v).unwrap(),
                first[k],
                "{protocol}: chunk {k}"
            );
        }
        masker.finish().unwrap();

        // The routers: tags resume at a count; the set's positions go on.
        let mut router = s2.tags;
        router.skip(80).unwrap();
        assert!(router.skip(11).is_err());
        router.skip(10).unwrap();
        let mut queries = router.finish().unwrap();
        queries.skip(48).unwrap();
        let got = queries.receive(rt(&first[3])).unwrap();
        assert_eq!(got[0].index, 48, "{protocol}");
        assert!(queries.skip(70).is_err());
    }
}
