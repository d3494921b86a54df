//! Property: for random logs and every state of every mode, the incremental
//! image equals a naive rebuild from the crash rules, `image_of` agrees, and
//! `find_state` maps each id back to its state.

use crate::common;

use proptest::prelude::*;
use replay::{
    find_state, image_of, DistinctStates, EnumOptions, LogBuilder, Mode, StateIter, WriteFlags,
};

const DEVICE: u64 = 32 * 1024; // 64 sectors, 8 chunks: writes cross chunks

#[derive(Clone, Debug)]
enum Op {
    Write {
        sector: u64,
        n: u64,
        fill: u8,
        fua: bool,
        preflush: bool,
    },
    Discard {
        sector: u64,
        n: u64,
    },
    Flush,
    Complete(usize),
    Mark,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..64, 1u64..10, any::<u8>(), prop::bool::weighted(0.2), prop::bool::weighted(0.15))
            .prop_map(|(sector, n, fill, fua, preflush)| Op::Write { sector, n, fill, fua, preflush }),
        1 => (0u64..64, 1u64..10).prop_map(|(sector, n)| Op::Discard { sector, n }),
        1 => Just(Op::Flush),
        5 => any::<usize>().prop_map(Op::Complete),
        1 => Just(Op::Mark),
    ]
}

fn build(ops: &[Op]) -> replay::Log {
    let mut b = LogBuilder::new(DEVICE);
    let mut open: Vec<u64> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Write {
                sector,
                n,
                fill,
                fua,
                preflush,
            } => {
                let n = n.min(64 - sector);
                let data: Vec<u8> = (0..n * 512)
                    .map(|k| fill.wrapping_add((k / 512) as u8))
                    .collect();
                open.push(b.submit_write(
                    sector,
                    &data,
                    WriteFlags {
                        fua,
                        preflush,
                        metadata: false,
                    },
                ));
            }
            Op::Discard { sector, n } => open.push(b.submit_discard(sector, n.min(64 - sector))),
            Op::Flush => open.push(b.submit_flush()),
            Op::Complete(k) => {
                if !open.is_empty() {
                    let id = open.remove(k % open.len());
                    b.complete(id);
                }
            }
            Op::Mark => b.mark(&format!("m{i}"), &[i as u8]),
        }
    }
    b.finish()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_naive(
        ops in prop::collection::vec(op(), 1..24),
        seed in any::<u64>(),
        tear_sectors in prop::sample::select(vec![0u64, 1, 2, 8]),
        tear_budget in prop::sample::select(vec![None, Some(1u64), Some(3)]),
    ) {
        let log = build(&ops);
        for mode in [Mode::Prefix, Mode::Reorder, Mode::Torn] {
            let o = EnumOptions { mode, max_volatile: 3, samples: 4, seed, limit: Some(400), tear_sectors, tear_budget, ..EnumOptions::default() };
            for s in StateIter::new(&log, &o).unwrap() {
                let naive = blake3::hash(&common::naive_image(&log, &s.state));
                prop_assert_eq!(s.image.hash(), naive, "incremental, state {}", s.state.id);
                prop_assert_eq!(image_of(&log, &s.state).unwrap().hash(), naive, "image_of, state {}", s.state.id);
                prop_assert_eq!(find_state(&log, &o, &s.state.id).unwrap(), s.state.clone());
            }
        }
    }

    /// `DistinctStates` leaves repeated persisted sets out before building
    /// their images: it must keep exactly the states, in the order, that
    /// deduplicating every enumerated state by content and marks keeps,
    /// and count every enumerated state.
    #[test]
    fn skipped_repeats_are_only_duplicates(
        ops in prop::collection::vec(op(), 1..40),
        seed in any::<u64>(),
        tear_budget in prop::sample::select(vec![None, Some(2u64)]),
        limit in prop::sample::select(vec![None, Some(37usize)]),
        images_only in any::<bool>(),
    ) {
        let log = build(&ops);
        for mode in [Mode::Prefix, Mode::Reorder, Mode::Torn] {
            let o = EnumOptions { mode, max_volatile: 3, samples: 4, seed, limit, tear_budget, distinct_images_only: images_only, ..EnumOptions::default() };
            let mut seen = std::collections::HashSet::new();
            let mut enumerated = 0;
            let plain: Vec<_> = StateIter::new(&log, &o)
                .unwrap()
                .inspect(|_| enumerated += 1)
                .filter(|s| seen.insert((s.image.content_key(), if images_only { 0 } else { s.state.marks })))
                .map(|s| (s.state.id.to_string(), s.image.content_key()))
                .collect();
            let mut distinct = DistinctStates::new(&log, &o).unwrap();
            let kept: Vec<_> = distinct
                .by_ref()
                .map(|s| (s.state.id.to_string(), s.image.content_key()))
                .collect();
            prop_assert_eq!(kept, plain, "mode {:?}", mode);
            prop_assert_eq!(distinct.enumerated(), enumerated, "mode {:?}", mode);
        }
    }

    #[test]
    fn native_and_dm_round_trips(ops in prop::collection::vec(op(), 1..24)) {
        let log = build(&ops);
        let back = replay::Log::from_native_bytes(log.to_native_bytes()).unwrap();
        prop_assert_eq!(back.entries().collect::<Vec<_>>(), log.entries().collect::<Vec<_>>());
        let dm = log.to_dm_log_writes_bytes().unwrap();
        let imported = replay::Log::from_dm_log_writes_bytes(dm.clone(), Some(DEVICE)).unwrap();
        prop_assert_eq!(imported.to_dm_log_writes_bytes().unwrap(), dm);
    }
}
