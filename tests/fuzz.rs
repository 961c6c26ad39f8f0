//! Mutation fuzzing of every parser and book path, on stable Rust, checking invariants
//! rather than only "no panic". Recorded sessions (Binance spot and USD-M hftbacktest
//! captures, Coinbase) run through the sessions `run` and `replay` use, with a share of
//! their frames and snapshots mutated: digits replaced by hostile numbers (u64::MAX,
//! i64::MAX, negatives, exponents, 40-digit fractions), bytes flipped, fields cut,
//! frames dropped or repeated. After every input:
//! - no emitted price or size is negative, and every timestamp is in range;
//! - every book rebuilt from the emitted events is uncrossed while announced `synced`;
//! - every input was applied or rejected with a counted reason.
//!
//! `FEEDHANDLER_FUZZ_EXECS` sets the number of inputs (CI runs a short pass;
//! `scripts/fuzz.sh` runs ten million in release); `FEEDHANDLER_FUZZ_SEED` the seed.

mod support;

use feedhandler::book::L2Book;
use feedhandler::model::{BookState, BookUpdateKind, Event, VenueId};
use feedhandler::record::reader::{Recorded, Recording};
use feedhandler::venues::{binance, coinbase};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use support::*;

/// Values a mutation puts in place of a number.
const HOSTILE: [&str; 14] = [
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "-1",
    "0",
    "-0.5",
    "1e400",
    "6.1e4",
    "0.1234567890123456789012345678901234567890",
    "\"\"",
    "null",
    "\"NaN\"",
    "99999999999999999999999999999999",
    "1",
];

struct Mutator(fastrand::Rng);

impl Mutator {
    /// A hostile variant of `text`.
    fn mutate(&mut self, text: &str) -> String {
        let mut s = text.to_owned();
        for _ in 0..self.0.usize(1..=3) {
            s = match self.0.u8(0..6) {
                // A number (or string value) replaced by a hostile one.
                0..=2 => {
                    let starts: Vec<usize> = (s.char_indices())
                        .filter(|(i, c)| {
                            c.is_ascii_digit() && (*i == 0 || !s.as_bytes()[i - 1].is_ascii_digit())
                        })
                        .map(|(i, _)| i)
                        .collect();
                    if starts.is_empty() {
                        continue;
                    }
                    let at = starts[self.0.usize(..starts.len())];
                    let end = at
                        + s[at..]
                            .find(|c: char| !c.is_ascii_digit() && c != '.')
                            .unwrap_or(s.len() - at);
                    let with = HOSTILE[self.0.usize(..HOSTILE.len())];
                    format!("{}{with}{}", &s[..at], &s[end..])
                }
                // A byte flipped.
                3 => {
                    let mut b = s.into_bytes();
                    if !b.is_empty() {
                        let i = self.0.usize(..b.len());
                        b[i] ^= 1 << self.0.u8(0..7);
                    }
                    String::from_utf8_lossy(&b).into_owned()
                }
                // Cut short.
                4 => {
                    let cut = self.0.usize(..=s.len());
                    let cut = (0..=cut).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
                    s[..cut].to_owned()
                }
                // A digit changed (a plausible but wrong value).
                _ => {
                    let digits: Vec<usize> = s
                        .char_indices()
                        .filter(|(_, c)| c.is_ascii_digit())
                        .map(|(i, _)| i)
                        .collect();
                    if digits.is_empty() {
                        continue;
                    }
                    let i = digits[self.0.usize(..digits.len())];
                    let d = char::from(b'0' + self.0.u8(0..10));
                    format!("{}{d}{}", &s[..i], &s[i + 1..])
                }
            };
        }
        s
    }
}

/// Checks the events a session emitted; returns a description of the first violation.
#[derive(Default)]
struct Invariants {
    books: HashMap<Arc<str>, (bool, L2Book)>,
    events: u64,
}

impl Invariants {
    fn check(&mut self, e: &Event) -> Result<(), String> {
        self.events += 1;
        let ts_ok = |ts: i64| ts >= 0;
        match e {
            Event::Trade(t) => {
                if t.price.is_sign_negative() || t.amount.is_sign_negative() {
                    return Err(format!("negative trade value: {}", e.to_json()));
                }
                if !ts_ok(t.exchange_ts_ns) || !ts_ok(t.receive_ts_ns) {
                    return Err(format!("trade time out of range: {}", e.to_json()));
                }
            }
            Event::Book(b) => {
                let levels = b.bids.iter().chain(&b.asks);
                if levels
                    .clone()
                    .any(|(p, s)| p.is_sign_negative() || s.is_sign_negative())
                {
                    return Err(format!("negative level in {} {}", b.symbol, b.sequence));
                }
                if b.exchange_ts_ns.is_some_and(|t| !ts_ok(t)) || !ts_ok(b.receive_ts_ns) {
                    return Err(format!("book time out of range: {} {}", b.symbol, b.sequence));
                }
                let (synced, book) = self.books.entry(b.symbol.clone()).or_default();
                match b.update {
                    BookUpdateKind::Snapshot => book.reset(&b.bids, &b.asks),
                    BookUpdateKind::Delta => book.apply(&b.bids, &b.asks),
                }
                if *synced && book.is_crossed() {
                    return Err(format!(
                        "{} crossed while synced after sequence {}",
                        b.symbol, b.sequence
                    ));
                }
            }
            Event::BookStatus(s) => {
                let (synced, _) = self.books.entry(s.symbol.clone()).or_default();
                *synced = s.status == BookState::Synced;
            }
            Event::TradeStatus(s) => {
                return Err(format!("a streaming venue announced a trade gap: {}", s.reason));
            }
        }
        Ok(())
    }
}

fn execs() -> u64 {
    std::env::var("FEEDHANDLER_FUZZ_EXECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150_000)
}

/// Runs `rec`'s frames through a fresh session per pass until `budget` inputs have been
/// fed, one in `every` of them mutated; returns (inputs, rejected by reason).
fn fuzz_binance(
    rec: &Recording,
    market: binance::parse::Market,
    budget: u64,
    m: &mut Mutator,
) -> (u64, BTreeMap<&'static str, u64>) {
    use binance::session::{Output, Session};
    let id = VenueId::from_recording_name(&rec.exchange).unwrap();
    let wires = [String::from("BTCUSDT")];
    let info =
        binance::parse::synthesize_exchange_info(wires.iter(), market == binance::parse::Market::Futures);
    let instruments = binance::parse::parse_instruments(id, market, &info).unwrap();
    let books: Vec<Arc<str>> = instruments.iter().map(|(n, _)| n.clone()).collect();
    let (mut inputs, mut rejected) = (0u64, BTreeMap::new());
    while inputs < budget {
        let mut session = Session::new(market, instruments.clone(), &books);
        let mut inv = Invariants::default();
        let mut out = Vec::new();
        for ev in &rec.events {
            if inputs >= budget {
                break;
            }
            let hostile = m.0.u8(0..20) == 0;
            let result = match ev {
                Recorded::Http { body, ts_ns, .. } => {
                    inputs += 1;
                    let body = if hostile { m.mutate(body) } else { body.clone() };
                    session
                        .on_snapshot(&books[0], &body, *ts_ns, &mut out)
                        .map_err(|e| e.reason())
                }
                Recorded::Recv { data, ts_ns, .. } => {
                    inputs += 1;
                    let repeat = if hostile && m.0.bool() { 2 } else { 1 };
                    let data = if hostile { m.mutate(data) } else { data.clone() };
                    let mut r = Ok(());
                    for _ in 0..repeat {
                        r = session.on_frame(&data, *ts_ns, &mut out).map_err(|e| e.reason());
                    }
                    r
                }
                _ => Ok(()),
            };
            if let Err(reason) = result {
                *rejected.entry(reason).or_insert(0) += 1;
            }
            for o in out.drain(..) {
                if let Output::Event(e) = o {
                    if let Err(v) = inv.check(&e) {
                        panic!("invariant broken ({}): {v}", rec.exchange);
                    }
                }
            }
        }
    }
    (inputs, rejected)
}

fn fuzz_coinbase(rec: &Recording, budget: u64, m: &mut Mutator) -> (u64, BTreeMap<&'static str, u64>) {
    use coinbase::session::{Output, Session};
    let id = VenueId::new("coinbase").unwrap();
    let body = rec
        .events
        .iter()
        .find_map(|e| match e {
            Recorded::Http { body, .. } => Some(body.clone()),
            _ => None,
        })
        .unwrap();
    let products = coinbase::parse::parse_products(id, &body).unwrap();
    let books: Vec<Arc<str>> = ["BTC-USD", "ETH-USD"]
        .iter()
        .filter_map(|p| products.get(p).cloned())
        .collect();
    let (mut inputs, mut rejected) = (0u64, BTreeMap::new());
    while inputs < budget {
        let mut session = Session::new(products.clone(), &books);
        let mut inv = Invariants::default();
        let mut out = Vec::new();
        for ev in &rec.events {
            if inputs >= budget {
                break;
            }
            let Recorded::Recv { data, ts_ns, .. } = ev else {
                continue;
            };
            inputs += 1;
            let data = if m.0.u8(0..20) == 0 {
                m.mutate(data)
            } else {
                data.clone()
            };
            if let Err(e) = session.on_frame(&data, *ts_ns, &mut out) {
                *rejected.entry(e.reason()).or_insert(0) += 1;
            }
            for o in out.drain(..) {
                if let Output::Event(e) = o {
                    if let Err(v) = inv.check(&e) {
                        panic!("invariant broken (coinbase): {v}");
                    }
                }
            }
        }
    }
    (inputs, rejected)
}

#[test]
fn mutated_recordings_never_break_the_invariants() {
    let seed = std::env::var("FEEDHANDLER_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let mut m = Mutator(fastrand::Rng::with_seed(seed));
    let budget = execs() / 3;
    let started = std::time::Instant::now();
    let mut total = 0;
    for (name, (inputs, rejected)) in [
        (
            "binance spot",
            fuzz_binance(&recording(SPOT_HFT), binance::parse::Market::Spot, budget, &mut m),
        ),
        (
            "binance usd-m",
            fuzz_binance(
                &recording(USDM_HFT),
                binance::parse::Market::Futures,
                budget,
                &mut m,
            ),
        ),
        ("coinbase", fuzz_coinbase(&recording(COINBASE_CF), budget, &mut m)),
    ] {
        total += inputs;
        println!("{name}: {inputs} inputs, rejected by reason {rejected:?}");
        assert!(!rejected.is_empty(), "{name}: mutations were rejected");
    }
    println!(
        "fuzz: {total} inputs in {:.1} s (seed {seed}), 0 invariant violations",
        started.elapsed().as_secs_f64()
    );
}
