//! Exact state counts for hand-made logs, ids, dedup, determinism of
//! parallel checking.

use crate::common;

use replay::{
    check, check_over, find_state, image_of, image_of_over, CheckOptions, DistinctStates,
    EnumOptions, Image, LogBuilder, Mode, ReplayError, StateId, StateIter, WriteFlags,
};

fn sector(fill: u8, n: usize) -> Vec<u8> {
    vec![fill; 512 * n]
}

/// W0 W1 C0 C1 mark F CF; w0 one sector, w1 two sectors.
fn small_log() -> replay::Log {
    let mut b = LogBuilder::new(64 * 1024);
    let w0 = b.submit_write(0, &sector(1, 1), WriteFlags::default());
    let w1 = b.submit_write(8, &sector(2, 2), WriteFlags::default());
    b.complete(w0);
    b.complete(w1);
    b.mark("m1", b"ack");
    let f = b.submit_flush();
    b.complete(f);
    b.finish()
}

fn opts(mode: Mode) -> CheckOptions {
    CheckOptions {
        enumerate: EnumOptions {
            mode,
            ..EnumOptions::default()
        },
        jobs: 1,
        keep_going: true,
    }
}

fn ids(log: &replay::Log, mode: Mode) -> Vec<String> {
    StateIter::new(
        log,
        &EnumOptions {
            mode,
            ..EnumOptions::default()
        },
    )
    .unwrap()
    .map(|s| s.state.id.to_string())
    .collect()
}

#[test]
fn prefix_counts() {
    let log = small_log();
    assert_eq!(ids(&log, Mode::Prefix), ["p0", "p3", "p4", "p5"]);
    let r = check(&log, &opts(Mode::Prefix), |_, _| Ok::<(), ()>(())).unwrap();
    assert_eq!((r.states_enumerated, r.states_checked), (4, 4));
}

#[test]
fn reorder_counts() {
    let log = small_log();
    let r = check(&log, &opts(Mode::Reorder), |_, _| Ok::<(), ()>(())).unwrap();
    // 1 + 2 + 4 + 4 + 4 + 4 + 1 states at positions 0,1,2,3,4,5,7.
    assert_eq!(r.states_enumerated, 20);
    // Four images before the mark, four after it (the flushed one repeats).
    assert_eq!(r.states_checked, 8);
}

#[test]
fn torn_counts() {
    let log = small_log();
    let r = check(&log, &opts(Mode::Torn), |_, _| Ok::<(), ()>(())).unwrap();
    // Reorder's 20, plus w1 (2 sectors) torn after 1 sector in each subset
    // without it at positions 2, 3, 4, 5 (2 subsets each).
    assert_eq!(r.states_enumerated, 28);
    let all = ids(&log, Mode::Torn);
    assert!(all.contains(&"t2.0.0".to_string()));
    assert!(all.contains(&"t5.1.0".to_string()));
}

#[test]
fn sampled_reorder_includes_all_none_and_omissions() {
    let mut b = LogBuilder::new(64 * 1024);
    for i in 0..6u64 {
        let id = b.submit_write(i, &sector(i as u8 + 1, 1), WriteFlags::default());
        b.complete(id);
    }
    let log = b.finish();
    let o = EnumOptions {
        mode: Mode::Reorder,
        max_volatile: 3,
        samples: 5,
        seed: 7,
        ..EnumOptions::default()
    };
    let states: Vec<_> = StateIter::new(&log, &o).unwrap().collect();
    let at_end: Vec<_> = states.iter().filter(|s| s.state.position == 12).collect();
    // none, all, 6 omissions, 6 singletons, 5 samples (minus duplicates)
    assert!(at_end.len() >= 14 && at_end.len() <= 19, "{}", at_end.len());
    assert!(at_end[0].state.persisted.is_empty());
    assert_eq!(at_end[1].state.persisted.len(), 6);
    for s in &at_end[2..8] {
        assert_eq!(s.state.persisted.len(), 5);
    }
    for (i, s) in at_end[8..14].iter().enumerate() {
        assert_eq!(s.state.persisted.len(), 1);
        assert_eq!(s.state.persisted[0].id, i as u64, "write {i} alone");
    }
    for s in &at_end[14..] {
        let n = s.state.persisted.len();
        assert!(
            (2..=4).contains(&n),
            "a sample repeats a listed subset: {n}"
        );
    }
    // Deterministic with the seed.
    let again: Vec<_> = StateIter::new(&log, &o).unwrap().map(|s| s.state).collect();
    let first: Vec<_> = states.iter().map(|s| s.state.clone()).collect();
    assert_eq!(first, again);
}

#[test]
fn find_state_and_image_of_agree_with_enumeration() {
    let log = small_log();
    for mode in [Mode::Prefix, Mode::Reorder, Mode::Torn] {
        let o = EnumOptions {
            mode,
            ..EnumOptions::default()
        };
        for s in StateIter::new(&log, &o).unwrap() {
            let id: StateId = s.state.id.to_string().parse().unwrap();
            let found = find_state(&log, &o, &id).unwrap();
            assert_eq!(found, s.state);
            assert_eq!(image_of(&log, &found).unwrap().to_vec(), s.image.to_vec());
            assert_eq!(common::naive_image(&log, &found), s.image.to_vec());
        }
    }
    let o = EnumOptions::default();
    assert!(find_state(&log, &o, &"p1".parse().unwrap()).is_err());
    assert!(find_state(&log, &o, &"r1.0".parse().unwrap()).is_err());
    assert!("x1".parse::<StateId>().is_err());
    assert!("p1.2".parse::<StateId>().is_err());
}

#[test]
fn marks_bound_the_range() {
    let log = small_log();
    let o = EnumOptions {
        start_mark: Some("m1".into()),
        ..EnumOptions::default()
    };
    let ids: Vec<_> = StateIter::new(&log, &o)
        .unwrap()
        .map(|s| s.state.id.to_string())
        .collect();
    assert_eq!(ids, ["p5"]);
    let o = EnumOptions {
        end_mark: Some("m1".into()),
        ..EnumOptions::default()
    };
    assert_eq!(StateIter::new(&log, &o).unwrap().count(), 4);
    let o = EnumOptions {
        end_mark: Some("nope".into()),
        ..EnumOptions::default()
    };
    assert!(matches!(
        StateIter::new(&log, &o),
        Err(replay::ReplayError::MarkNotFound { .. })
    ));
    let o = EnumOptions {
        mode: Mode::Reorder,
        limit: Some(3),
        ..EnumOptions::default()
    };
    assert_eq!(StateIter::new(&log, &o).unwrap().count(), 3);
}

#[test]
fn overlapping_volatile_writes_apply_in_completion_order() {
    let mut b = LogBuilder::new(4096);
    let a = b.submit_write(0, &sector(0xa, 1), WriteFlags::default());
    let c = b.submit_write(0, &sector(0xc, 1), WriteFlags::default());
    b.complete(c);
    b.complete(a);
    let log = b.finish();
    let o = EnumOptions {
        mode: Mode::Reorder,
        ..EnumOptions::default()
    };
    let last = StateIter::new(&log, &o).unwrap().last().unwrap();
    // Both persisted: a completed last, a wins.
    assert_eq!(last.state.persisted.len(), 2);
    let mut buf = [0u8; 1];
    last.image.read(0, &mut buf);
    assert_eq!(buf[0], 0xa);
}

#[test]
fn a_durable_write_beats_an_earlier_volatile_one() {
    // v completes (volatile), then d (FUA) completes over it, then a flush
    // submitted after both makes v durable too: d completed later, d wins.
    let mut b = LogBuilder::new(4096);
    let v = b.submit_write(0, &sector(0x1, 1), WriteFlags::default());
    b.complete(v);
    let fua = WriteFlags {
        fua: true,
        ..WriteFlags::default()
    };
    let d = b.submit_write(0, &sector(0x2, 1), fua);
    b.complete(d);
    let f = b.submit_flush();
    b.complete(f);
    let log = b.finish();
    for mode in [Mode::Reorder, Mode::Torn, Mode::Prefix] {
        let o = EnumOptions {
            mode,
            ..EnumOptions::default()
        };
        for s in StateIter::new(&log, &o).unwrap() {
            assert_eq!(
                common::naive_image(&log, &s.state),
                s.image.to_vec(),
                "{}",
                s.state.id
            );
        }
    }
}

#[test]
fn parallel_check_reports_the_first_failure_in_order() {
    let mut b = LogBuilder::new(1 << 20);
    for i in 0..200u64 {
        let id = b.submit_write(
            i * 8,
            &sector((i % 250) as u8 + 1, 8),
            WriteFlags::default(),
        );
        b.complete(id);
    }
    let log = b.finish();
    let fail_from = |pos: usize| {
        move |s: &replay::CrashState, _: &replay::Image| {
            if s.position >= pos {
                Err(s.position)
            } else {
                Ok(())
            }
        }
    };
    for jobs in [1, 2, 4, 0] {
        let o = CheckOptions {
            jobs,
            ..CheckOptions::default()
        };
        let r = check(&log, &o, fail_from(101)).unwrap();
        assert_eq!(r.failures.len(), 1);
        assert_eq!(r.failures[0].state.id.to_string(), "p102");
        let o = CheckOptions {
            jobs,
            keep_going: true,
            ..CheckOptions::default()
        };
        let r = check(&log, &o, fail_from(300)).unwrap();
        let got: Vec<usize> = r.failures.iter().map(|f| f.error).collect();
        let want: Vec<usize> = (300..=400).step_by(2).collect();
        assert_eq!(got, want);
        assert_eq!(r.states_checked, 201);
    }
}

#[test]
fn identical_images_in_one_mark_interval_are_checked_once() {
    let mut b = LogBuilder::new(4096);
    for _ in 0..3 {
        let id = b.submit_write(0, &sector(7, 1), WriteFlags::default());
        b.complete(id);
    }
    b.mark("x", &[]);
    let log = b.finish();
    let r = check(&log, &opts(Mode::Prefix), |_, _| Ok::<(), ()>(())).unwrap();
    // p0, p2, p4, p6 (same image as p2), p7 (mark): zero, data, data+mark.
    assert_eq!((r.states_enumerated, r.states_checked), (5, 3));
}

/// A PREFLUSH write that reached the media was preceded by its flush: no
/// crash state holds it without every write completed before its
/// submission (here: a data write, then a journal commit record).
#[test]
fn persisted_preflush_write_implies_earlier_completions() {
    let mut b = LogBuilder::new(64 * 1024);
    let data = b.submit_write(0, &sector(1, 1), WriteFlags::default());
    b.complete(data);
    let commit = b.submit_write(
        8,
        &sector(2, 1),
        WriteFlags {
            preflush: true,
            fua: true,
            metadata: true,
        },
    );
    let log = b.finish();
    for mode in [Mode::Reorder, Mode::Torn] {
        let r = check(
            &log,
            &CheckOptions {
                enumerate: EnumOptions {
                    mode,
                    ..EnumOptions::default()
                },
                jobs: 1,
                keep_going: true,
            },
            |state, image| {
                let mut commit_sector = [0u8; 512];
                let mut data_sector = [0u8; 512];
                image.read(8 * 512, &mut commit_sector);
                image.read(0, &mut data_sector);
                let has_commit = state.persisted.iter().any(|p| p.id == commit);
                if has_commit && data_sector[0] != 1 {
                    return Err(format!("{}: commit without its data", state.id));
                }
                if has_commit != (commit_sector[0] == 2) {
                    return Err(format!("{}: image disagrees with persisted", state.id));
                }
                Ok(())
            },
        )
        .unwrap();
        assert!(r.failures.is_empty(), "{:?}", r.failures);
        assert!(r.states_checked >= 2);
    }
}

#[test]
fn distinct_images_only_ignores_marks() {
    // The same image before and after a mark is two checks for the harness
    // (its obligations change at marks) and one for an external fsck.
    let log = small_log();
    let count = |images_only: bool| {
        let o = EnumOptions {
            mode: Mode::Prefix,
            distinct_images_only: images_only,
            ..EnumOptions::default()
        };
        replay::DistinctStates::new(&log, &o).unwrap().count()
    };
    let with_marks = count(false);
    let images_only = count(true);
    assert!(images_only < with_marks, "{images_only} < {with_marks}");
    let o = EnumOptions {
        distinct_images_only: true,
        ..EnumOptions::default()
    };
    let hashes: Vec<_> = replay::DistinctStates::new(&log, &o)
        .unwrap()
        .map(|s| *s.image.hash().as_bytes())
        .collect();
    let mut unique = hashes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), hashes.len(), "each image listed once");
}

#[test]
fn tear_unit_limits_torn_variants() {
    // One 16-sector write, in flight at the end: torn after 8 sectors only
    // with 4 KiB units, after each of 1..15 sectors with 512-byte ones.
    let mut b = LogBuilder::new(64 * 1024);
    b.submit_write(0, &sector(9, 16), WriteFlags::default());
    let log = b.finish();
    let tears = |tear_sectors: u64| {
        let o = EnumOptions {
            mode: Mode::Torn,
            tear_sectors,
            ..EnumOptions::default()
        };
        let states: Vec<_> = StateIter::new(&log, &o).unwrap().collect();
        for s in &states {
            assert_eq!(find_state(&log, &o, &s.state.id).unwrap(), s.state);
            assert_eq!(image_of(&log, &s.state).unwrap(), s.image);
        }
        states
            .iter()
            .filter_map(|s| s.state.persisted.first()?.sectors)
            .collect::<Vec<_>>()
    };
    assert_eq!(tears(8), [8]);
    assert_eq!(tears(1), (1..16).collect::<Vec<_>>());
    assert_eq!(tears(0), tears(1));
    assert!(tears(16).is_empty());
    // Ids count only the aligned tears: t1.0.1 exists with 512-byte units
    // and not with 4 KiB ones.
    let o = |tear_sectors| EnumOptions {
        mode: Mode::Torn,
        tear_sectors,
        ..EnumOptions::default()
    };
    let id: StateId = "t1.0.1".parse().unwrap();
    assert!(find_state(&log, &o(1), &id).is_ok());
    assert!(find_state(&log, &o(8), &id).is_err());
}

/// A base image of `len` bytes filled with 0xee.
fn filled_base(len: u64) -> Image {
    let mut base = Image::new(len);
    base.write(0, &vec![0xee; len as usize]);
    base
}

#[test]
fn states_over_a_base_keep_its_bytes_outside_the_writes() {
    // Crash during recovery: recovery writes sector 2 over a crash image.
    let mut b = LogBuilder::new(8 * 512);
    let w = b.submit_write(2, &sector(5, 1), WriteFlags::default());
    b.complete(w);
    let log = b.finish();
    let base = filled_base(log.device_bytes());
    let expect = |with_write: bool| {
        let mut v = vec![0xee; 8 * 512];
        if with_write {
            v[2 * 512..3 * 512].fill(5);
        }
        v
    };
    let o = EnumOptions::default();
    let states: Vec<_> = StateIter::over(&log, &o, base.clone()).unwrap().collect();
    let ids: Vec<_> = states.iter().map(|s| s.state.id.to_string()).collect();
    assert_eq!(ids, ["p0", "p2"]);
    assert_eq!(states[0].image.to_vec(), expect(false));
    assert_eq!(states[1].image.to_vec(), expect(true));
    for s in &states {
        let again = image_of_over(&log, base.clone(), &s.state).unwrap();
        assert_eq!(again, s.image, "{}", s.state.id);
    }
    // Reorder and torn build their durable base from it as well.
    for mode in [Mode::Reorder, Mode::Torn] {
        let o = EnumOptions {
            mode,
            ..EnumOptions::default()
        };
        for s in StateIter::over(&log, &o, base.clone()).unwrap() {
            let img = s.image.to_vec();
            assert!(
                img[..2 * 512]
                    .iter()
                    .chain(&img[3 * 512..])
                    .all(|&x| x == 0xee),
                "{}",
                s.state.id
            );
            let again = image_of_over(&log, base.clone(), &s.state).unwrap();
            assert_eq!(again, s.image, "{}", s.state.id);
        }
    }
    // `new` is `over` a zeroed device.
    let zero: Vec<_> = StateIter::new(&log, &o).unwrap().map(|s| s.image).collect();
    let over_zero: Vec<_> = StateIter::over(&log, &o, Image::new(log.device_bytes()))
        .unwrap()
        .map(|s| s.image)
        .collect();
    assert_eq!(zero, over_zero);
}

#[test]
fn a_durable_base_is_older_than_every_write() {
    // The base is overwritten by durable writes in reorder mode too, and a
    // flushed write stays in every later state.
    let mut b = LogBuilder::new(8 * 512);
    let w = b.submit_write(1, &sector(3, 2), WriteFlags::default());
    b.complete(w);
    let f = b.submit_flush();
    b.complete(f);
    let log = b.finish();
    let base = filled_base(log.device_bytes());
    let o = EnumOptions {
        mode: Mode::Reorder,
        ..EnumOptions::default()
    };
    let last = StateIter::over(&log, &o, base.clone())
        .unwrap()
        .last()
        .unwrap();
    let img = last.image.to_vec();
    assert!(img[512..3 * 512].iter().all(|&x| x == 3));
    assert!(img[..512].iter().chain(&img[3 * 512..]).all(|&x| x == 0xee));
    assert_eq!(image_of_over(&log, base, &last.state).unwrap(), last.image);
}

#[test]
fn check_over_sees_the_base_and_rejects_a_wrong_size() {
    let mut b = LogBuilder::new(8 * 512);
    let w = b.submit_write(0, &sector(5, 1), WriteFlags::default());
    b.complete(w);
    let log = b.finish();
    let r = check_over(
        &log,
        filled_base(log.device_bytes()),
        &opts(Mode::Reorder),
        |state, image| {
            let mut last = [0u8; 1];
            image.read(7 * 512, &mut last);
            if last[0] == 0xee {
                Ok(())
            } else {
                Err(state.id)
            }
        },
    )
    .unwrap();
    assert!(r.is_clean(), "{:?}", r.failures);
    assert_eq!(r.states_checked, 2);

    let wrong = Image::new(log.device_bytes() + 512);
    let is_size_error = |e: ReplayError| {
        matches!(
            e,
            ReplayError::BaseImageSize {
                base_bytes: 4608,
                device_bytes: 4096
            }
        )
    };
    let o = EnumOptions::default();
    assert!(is_size_error(
        StateIter::over(&log, &o, wrong.clone()).err().unwrap()
    ));
    assert!(is_size_error(
        DistinctStates::over(&log, &o, wrong.clone()).err().unwrap()
    ));
    assert!(is_size_error(
        check_over(&log, wrong.clone(), &opts(Mode::Prefix), |_, _| {
            Ok::<(), ()>(())
        })
        .err()
        .unwrap()
    ));
    let p0 = find_state(&log, &o, &"p0".parse().unwrap()).unwrap();
    assert!(is_size_error(
        image_of_over(&log, wrong, &p0).err().unwrap()
    ));
}

/// A thinned pass yields a subset of the full mode's states, under the
/// same ids, with subset 0 (nothing pending persisted) at every position;
/// `check_unseen_over` skips what an earlier pass checked.
#[test]
fn thinned_passes_keep_full_ids_and_skip_seen_states() {
    let log = small_log();
    for mode in [Mode::Reorder, Mode::Torn] {
        let full = ids(&log, mode);
        let thin: Vec<String> = StateIter::new(
            &log,
            &EnumOptions {
                mode,
                max_subsets: Some(1),
                max_tears: Some(1),
                ..EnumOptions::default()
            },
        )
        .unwrap()
        .map(|s| s.state.id.to_string())
        .collect();
        assert!(thin.len() < full.len(), "{mode}: {thin:?} vs {full:?}");
        assert!(thin.iter().all(|id| full.contains(id)), "{thin:?}");
        let zeros = thin.iter().filter(|id| id.contains(".0")).count();
        assert!(
            zeros > 0
                && thin
                    .iter()
                    .all(|id| !id.starts_with('r') || id.ends_with(".0"))
        );
    }
    let mut seen = replay::check::Seen::new();
    let zeros = || Image::new(log.device_bytes());
    let prefix =
        replay::check::check_unseen_over(&log, zeros(), &opts(Mode::Prefix), &mut seen, |_, _| {
            Ok::<(), ()>(())
        })
        .unwrap();
    let mut thin = opts(Mode::Reorder);
    thin.enumerate.max_subsets = Some(1);
    let again = replay::check::check_unseen_over(&log, zeros(), &thin, &mut seen, |s, _| {
        // Only states that lose something pending are new.
        assert!(s.id.to_string().ends_with(".0"));
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_eq!(prefix.states_checked, 4);
    assert!(again.states_enumerated > again.states_checked);
}

/// A tear budget keeps every tear of the newest pending write first, the
/// same ones in every run, under the full enumeration's ids.
#[test]
fn tear_budget_keeps_the_newest_writes_tears() {
    let mut b = LogBuilder::new(64 * 1024);
    let w0 = b.submit_write(0, &sector(1, 16), WriteFlags::default());
    let w1 = b.submit_write(32, &sector(2, 16), WriteFlags::default());
    b.complete(w0);
    b.complete(w1);
    let log = b.finish();
    let torn = |budget: Option<u64>| -> Vec<replay::CrashState> {
        let o = EnumOptions {
            mode: Mode::Torn,
            tear_budget: budget,
            ..EnumOptions::default()
        };
        StateIter::new(&log, &o)
            .unwrap()
            .map(|s| s.state)
            .filter(|s| s.position == 4 && matches!(s.id, StateId::Torn { subset: 0, .. }))
            .collect()
    };
    let all = torn(None);
    // Subset 0 persists nothing: each write torn at 15 points.
    assert_eq!(all.len(), 30);
    let kept = torn(Some(4));
    assert_eq!(kept.len(), 4);
    for s in &kept {
        assert_eq!(s.persisted.len(), 1);
        assert_eq!(s.persisted[0].id, w1, "the newest write's tears first");
        assert!(
            all.contains(s),
            "{} is a state of the full enumeration",
            s.id
        );
    }
    assert_eq!(kept, torn(Some(4)));
}
