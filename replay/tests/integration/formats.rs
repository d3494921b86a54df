//! Native and dm-log-writes formats: round trips, a kernel-layout log built
//! byte by byte, the flush-ordering rule, and every kind of bad input.

use replay::{EntryRef, Log, LogBuilder, ReplayError, WriteFlags};

use replay::dm_log_writes::MAGIC;

fn le(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

/// One dm-log-writes sector: a header padded with zeros, optional mark text.
fn dm_entry(ss: usize, sector: u64, nr: u64, flags: u64, text: &[u8]) -> Vec<u8> {
    let mut s = vec![0u8; ss];
    s[..8].copy_from_slice(&le(sector));
    s[8..16].copy_from_slice(&le(nr));
    s[16..24].copy_from_slice(&le(flags));
    s[24..32].copy_from_slice(&le(text.len() as u64));
    s[32..32 + text.len()].copy_from_slice(text);
    s
}

fn dm_super(ss: usize, nr_entries: u64) -> Vec<u8> {
    let mut s = vec![0u8; ss];
    s[..8].copy_from_slice(&le(MAGIC));
    s[8..16].copy_from_slice(&le(1));
    s[16..24].copy_from_slice(&le(nr_entries));
    s[24..28].copy_from_slice(&(ss as u32).to_le_bytes());
    s
}

/// write(sector 2, 1 sector of 0xAA), mark "hello", flush, FUA write of two
/// sectors at 0, discard of sector 2, metadata write at 3.
fn kernel_log(ss: usize) -> Vec<u8> {
    let mut f = dm_super(ss, 6);
    f.extend(dm_entry(ss, 2, 1, 0, b""));
    f.extend(vec![0xaa; ss]);
    f.extend(dm_entry(ss, 0, 0, 8, b"hello"));
    f.extend(dm_entry(ss, 0, 0, 1, b""));
    f.extend(dm_entry(ss, 0, 2, 2, b""));
    f.extend(vec![0xbb; 2 * ss]);
    f.extend(dm_entry(ss, 2, 1, 4, b""));
    f.extend(dm_entry(ss, 3, 1, 16, b""));
    f.extend(vec![0xcc; ss]);
    f
}

#[test]
fn kernel_layout_imports() {
    for ss in [512usize, 4096] {
        let r = (ss / 512) as u64;
        let bytes = kernel_log(ss);
        let log = Log::from_dm_log_writes_bytes(bytes.clone(), None).unwrap();
        // Highest sector written is 4 (in ss units), rounded up to 4 KiB.
        assert_eq!(log.device_bytes(), (4 * ss as u64).div_ceil(4096) * 4096);
        let e: Vec<EntryRef> = log.entries().collect();
        assert_eq!(e.len(), 11);
        assert!(
            matches!(e[0], EntryRef::Write { id: 0, sector, data, flags } if sector == 2 * r && data.len() == ss && data[0] == 0xaa && flags == WriteFlags::default())
        );
        assert_eq!(e[1], EntryRef::Complete { id: 0 });
        assert_eq!(
            e[2],
            EntryRef::Mark {
                label: "hello",
                payload: b""
            }
        );
        assert_eq!(e[3], EntryRef::Flush { id: 1 });
        assert!(
            matches!(e[5], EntryRef::Write { id: 2, sector: 0, data, flags } if data.len() == 2 * ss && flags.fua)
        );
        assert_eq!(
            e[7],
            EntryRef::Discard {
                id: 3,
                sector: 2 * r,
                nr_sectors: r
            }
        );
        assert!(matches!(e[9], EntryRef::Write { flags, .. } if flags.metadata));
        assert_eq!(
            log.marks().map(|(i, l, _)| (i, l)).collect::<Vec<_>>(),
            [(2, "hello")]
        );
        // Byte-exact round trip.
        assert_eq!(log.to_dm_log_writes_bytes().unwrap(), bytes);
        // And through the native format.
        let native = Log::from_native_bytes(log.to_native_bytes()).unwrap();
        assert_eq!(native.to_dm_log_writes_bytes().unwrap(), bytes);
    }
}

#[test]
fn imported_flush_makes_earlier_entries_durable() {
    let log = Log::from_dm_log_writes_bytes(kernel_log(512), None).unwrap();
    let o = replay::EnumOptions {
        mode: replay::Mode::Reorder,
        ..Default::default()
    };
    // Right after the flush (entry 3 submit, 4 complete) nothing is pending.
    let s = replay::find_state(&log, &o, &"r5.0".parse().unwrap()).unwrap();
    let img = replay::image_of(&log, &s).unwrap();
    let mut b = [0u8; 1];
    img.read(2 * 512, &mut b);
    assert_eq!(b[0], 0xaa);
    assert!(replay::find_state(&log, &o, &"r5.1".parse().unwrap()).is_err());
}

#[test]
fn flush_ordering_follows_the_kernel() {
    let mut b = LogBuilder::new(64 * 1024);
    let w1 = b.submit_write(1, &[1u8; 512], WriteFlags::default());
    let w2 = b.submit_write(2, &[2u8; 512], WriteFlags::default());
    let w3 = b.submit_write(3, &[3u8; 512], WriteFlags::default());
    b.complete(w3);
    b.complete(w2);
    let f = b.submit_flush();
    b.complete(w1);
    b.complete(f);
    let bytes = b.finish().to_dm_log_writes_bytes().unwrap();
    assert_eq!(u64::from_le_bytes(bytes[16..24].try_into().unwrap()), 4);
    let mut expect = dm_super(512, 4);
    expect.extend(dm_entry(512, 3, 1, 0, b""));
    expect.extend([3u8; 512]);
    expect.extend(dm_entry(512, 2, 1, 0, b""));
    expect.extend([2u8; 512]);
    expect.extend(dm_entry(512, 0, 0, 1, b""));
    expect.extend(dm_entry(512, 1, 1, 0, b""));
    expect.extend([1u8; 512]);
    assert_eq!(bytes, expect);
}

#[test]
fn fua_and_marks_log_at_once_preflush_splices() {
    let mut b = LogBuilder::new(64 * 1024);
    let a = b.submit_write(1, &[1u8; 512], WriteFlags::default());
    b.complete(a);
    let fua = b.submit_write(
        2,
        &[2u8; 512],
        WriteFlags {
            fua: true,
            preflush: true,
            metadata: false,
        },
    );
    b.mark("m", b"payload is dropped");
    b.complete(fua);
    let bytes = b.finish().to_dm_log_writes_bytes().unwrap();
    let mut expect = dm_super(512, 3);
    expect.extend(dm_entry(512, 0, 0, 8, b"m"));
    expect.extend(dm_entry(512, 1, 1, 0, b""));
    expect.extend([1u8; 512]);
    expect.extend(dm_entry(512, 2, 1, 3, b""));
    expect.extend([2u8; 512]);
    assert_eq!(bytes, expect);
}

fn sample_native() -> Log {
    let mut b = LogBuilder::new(64 * 1024);
    let w = b.submit_write(4, &[9u8; 1024], WriteFlags::default());
    b.mark("ack", &[1, 2, 3]);
    let d = b.submit_discard(0, 2);
    b.complete(w);
    b.complete(d);
    b.finish()
}

#[test]
fn native_round_trip_through_a_file() {
    let log = sample_native();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.blog");
    log.save_native(&p).unwrap();
    let back = Log::read_native(&p).unwrap();
    assert_eq!(
        back.entries().collect::<Vec<_>>(),
        log.entries().collect::<Vec<_>>()
    );
    assert_eq!(back.device_bytes(), log.device_bytes());
    let opened = replay::open_log(&p, None, None).unwrap();
    assert_eq!(opened.len(), log.len());
    let dm = dir.path().join("x.dm");
    log.save_dm_log_writes(&dm).unwrap();
    let opened = replay::open_log(&dm, None, Some(64 * 1024)).unwrap();
    assert_eq!(opened.device_bytes(), 64 * 1024);
}

// ---- bad input ----

#[test]
fn dm_wrong_magic_and_version() {
    let mut b = kernel_log(512);
    b[0] ^= 1;
    assert!(matches!(
        Log::from_dm_log_writes_bytes(b, None),
        Err(ReplayError::BadMagic { .. })
    ));
    let mut b = kernel_log(512);
    b[8] = 2;
    assert!(matches!(
        Log::from_dm_log_writes_bytes(b, None),
        Err(ReplayError::UnsupportedVersion { version: 2, .. })
    ));
    let mut b = kernel_log(512);
    b[24..28].copy_from_slice(&1000u32.to_le_bytes());
    assert!(matches!(
        Log::from_dm_log_writes_bytes(b, None),
        Err(ReplayError::BadSectorSize { .. })
    ));
    assert!(Log::from_dm_log_writes_bytes(vec![1, 2, 3], None).is_err());
}

#[test]
fn dm_truncated() {
    let b = kernel_log(512);
    // Cut inside the FUA write's data (entry 3 header at 512*5).
    let cut = b[..512 * 6 + 100].to_vec();
    match Log::from_dm_log_writes_bytes(cut, None) {
        Err(ReplayError::DataPastEnd { index, offset, .. }) => {
            assert_eq!((index, offset), (3, 512 * 5))
        }
        other => panic!("{other:?}"),
    }
    // Cut inside a header.
    let cut = b[..512 * 4 + 10].to_vec();
    match Log::from_dm_log_writes_bytes(cut, None) {
        Err(ReplayError::Truncated { index, offset, .. }) => {
            assert_eq!((index, offset), (2, 512 * 4))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn dm_nr_sectors_disagrees_with_file_size() {
    let mut b = kernel_log(512);
    // Entry 0 claims a million sectors.
    b[512 + 8..512 + 16].copy_from_slice(&le(1 << 20));
    match Log::from_dm_log_writes_bytes(b, None) {
        Err(ReplayError::DataPastEnd {
            index: 0,
            offset: 512,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let mut b = kernel_log(512);
    // Entry 0 claims u64::MAX sectors: no overflow, no allocation.
    b[512 + 8..512 + 16].copy_from_slice(&le(u64::MAX));
    assert!(matches!(
        Log::from_dm_log_writes_bytes(b, None),
        Err(ReplayError::DataPastEnd { index: 0, .. })
    ));
    let mut b = kernel_log(512);
    // A write with data_len set.
    b[512 + 24..512 + 32].copy_from_slice(&le(7));
    assert!(matches!(
        Log::from_dm_log_writes_bytes(b, None),
        Err(ReplayError::BadEntry { index: 0, .. })
    ));
    let mut b = kernel_log(512);
    // A mark longer than its sector.
    b[512 * 3 + 24..512 * 3 + 32].copy_from_slice(&le(600));
    assert!(matches!(
        Log::from_dm_log_writes_bytes(b, None),
        Err(ReplayError::BadEntry { index: 1, offset, .. }) if offset == 512 * 3
    ));
}

#[test]
fn dm_nr_entries_disagrees() {
    let mut b = kernel_log(512);
    b[16..24].copy_from_slice(&le(7));
    assert!(matches!(
        Log::from_dm_log_writes_bytes(b, None),
        Err(ReplayError::Truncated { index: 6, .. })
    ));
    let mut b = kernel_log(512);
    b[16..24].copy_from_slice(&le(u64::MAX));
    assert!(matches!(
        Log::from_dm_log_writes_bytes(b, None),
        Err(ReplayError::Truncated { index: 6, .. })
    ));
    // Fewer declared than present: the kernel updates the count only after
    // a FUA or mark entry. The count is honoured (as replay-log does), the
    // well-formed entries after it are counted, and replayed on request.
    let mut b = kernel_log(512);
    b[16..24].copy_from_slice(&le(4));
    let log = Log::from_dm_log_writes_bytes(b.clone(), None).unwrap();
    let p = log.provenance();
    assert_eq!((p.dm_declared_entries, p.dm_trailing_entries), (4, 2));
    assert!(!p.dm_trailing_included);
    assert_eq!(log.len(), 7); // W C, mark, flush C, W C
    let all = Log::from_dm_log_writes_bytes_with_trailing(b, None).unwrap();
    assert_eq!(all.len(), 11);
    assert!(all.provenance().dm_trailing_included);
    let full = Log::from_dm_log_writes_bytes(kernel_log(512), None).unwrap();
    assert_eq!(full.provenance().dm_trailing_entries, 0);
    assert!(all.entries().eq(full.entries()));
    // dm entry numbers: `replay-log --limit N` and log positions.
    assert_eq!(full.dm_entry_position(0), Some(0));
    assert_eq!(full.dm_entry_position(1), Some(2));
    assert_eq!(full.dm_entry_position(2), Some(3));
    assert_eq!(full.dm_entry_position(6), Some(11));
    assert_eq!(full.dm_entry_position(7), None);
    let before = full.dm_entries_before().unwrap();
    assert_eq!(before, vec![0, 0, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    // A stale or damaged entry after the count ends the trailing ones.
    let mut b = kernel_log(512);
    b[16..24].copy_from_slice(&le(4));
    b[512 * 9 + 16..512 * 9 + 24].copy_from_slice(&le(1 << 10)); // unknown flag
    let log = Log::from_dm_log_writes_bytes(b, None).unwrap();
    assert_eq!(log.provenance().dm_trailing_entries, 1);
    // Trailing zeros (an oversized log device) are fine.
    let mut b = kernel_log(512);
    b.extend(vec![0u8; 4096]);
    assert!(Log::from_dm_log_writes_bytes(b, None).is_ok());
}

#[test]
fn dm_entry_past_device() {
    match Log::from_dm_log_writes_bytes(kernel_log(512), Some(1024)) {
        Err(ReplayError::EntryPastDevice { index, offset, .. }) => {
            // Entry 0 (native index 0) writes sector 2 of a 2-sector device.
            assert_eq!((index, offset), (0, 512));
        }
        other => panic!("{other:?}"),
    }
}

fn fix_native_header(b: &mut [u8]) {
    let sum = blake3::hash(&b[..48]);
    b[48..64].copy_from_slice(&sum.as_bytes()[..16]);
}

#[test]
fn native_len_is_the_encodings_length() {
    let log = sample_native();
    assert_eq!(log.native_len(), log.to_native_bytes().len() as u64);
    let empty = LogBuilder::new(4096).finish();
    assert_eq!(empty.native_len(), empty.to_native_bytes().len() as u64);
}

#[test]
fn native_bad_inputs() {
    let good = sample_native().to_native_bytes();
    assert!(Log::from_native_bytes(good.clone()).is_ok());
    // Wrong magic.
    let mut b = good.clone();
    b[0] = b'X';
    assert!(matches!(
        Log::from_native_bytes(b),
        Err(ReplayError::BadMagic { .. })
    ));
    // Unknown version.
    let mut b = good.clone();
    b[8] = 9;
    fix_native_header(&mut b);
    assert!(matches!(
        Log::from_native_bytes(b),
        Err(ReplayError::UnsupportedVersion { version: 9, .. })
    ));
    // Header corrupted.
    let mut b = good.clone();
    b[17] ^= 1;
    assert!(matches!(
        Log::from_native_bytes(b),
        Err(ReplayError::HeaderChecksum)
    ));
    // Truncated anywhere: a typed error, never a panic.
    for cut in 0..good.len() {
        assert!(
            Log::from_native_bytes(good[..cut].to_vec()).is_err(),
            "cut {cut}"
        );
    }
    let cut = good[..64 + 56 + 10].to_vec();
    assert!(matches!(
        Log::from_native_bytes(cut),
        Err(ReplayError::DataPastEnd {
            index: 0,
            offset: 64,
            ..
        })
    ));
    // Corrupted data.
    let mut b = good.clone();
    b[64 + 56 + 3] ^= 0xff;
    assert!(matches!(
        Log::from_native_bytes(b),
        Err(ReplayError::EntryChecksum {
            index: 0,
            offset: 64
        })
    ));
    // data_len beyond the file.
    let mut b = good.clone();
    b[64 + 32..64 + 40].copy_from_slice(&le(u64::MAX));
    assert!(matches!(
        Log::from_native_bytes(b),
        Err(ReplayError::DataPastEnd { index: 0, .. })
    ));
    // nr_entries too small / too large.
    let mut b = good.clone();
    b[24..32].copy_from_slice(&le(2));
    fix_native_header(&mut b);
    assert!(matches!(
        Log::from_native_bytes(b),
        Err(ReplayError::NrEntriesMismatch { declared: 2, .. })
    ));
    let mut b = good.clone();
    b[24..32].copy_from_slice(&le(1 << 40));
    fix_native_header(&mut b);
    assert!(matches!(
        Log::from_native_bytes(b),
        Err(ReplayError::Truncated { .. })
    ));
}

#[test]
fn native_entry_past_device_and_bad_ids() {
    let mut b = LogBuilder::new(4096);
    let w = b.submit_write(8, &[1u8; 512], WriteFlags::default());
    b.complete(w);
    let bytes = b.finish().to_native_bytes();
    match Log::from_native_bytes(bytes) {
        Err(ReplayError::EntryPastDevice {
            index: 0,
            offset: 64,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let mut b = LogBuilder::new(4096);
    let w = b.submit_write(0, &[1u8; 100], WriteFlags::default());
    b.complete(w);
    assert!(matches!(
        b.finish().validate(),
        Err(ReplayError::UnalignedWrite { index: 0, .. })
    ));
}

#[test]
fn export_cuts_mark_labels_as_the_kernel_does() {
    // The kernel keeps at most sectorsize - 32 - 1 bytes of a mark's text.
    assert_eq!(replay::dm_log_writes::mark_label_max(512), 479);
    let mut b = LogBuilder::new(64 * 1024);
    b.mark(&"x".repeat(600), &[]);
    b.mark("short", &[]);
    let bytes = b.finish().to_dm_log_writes_bytes().unwrap();
    let back = Log::from_dm_log_writes_bytes(bytes, None).unwrap();
    let labels: Vec<String> = back
        .entries()
        .filter_map(|e| match e {
            EntryRef::Mark { label, .. } => Some(label.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(labels, vec!["x".repeat(479), "short".to_string()]);
}

// ---- robustness: every byte, every field, odd files (issue 6) ----

/// Parses `bytes` both ways (catching nothing: a panic fails the test).
fn parse_both(bytes: &[u8]) -> (Result<Log, ReplayError>, Result<Log, ReplayError>) {
    (
        Log::from_native_bytes(bytes.to_vec()),
        Log::from_dm_log_writes_bytes(bytes.to_vec(), None),
    )
}

/// Recomputes every entry checksum and the trailer of a native log, so that
/// a lie in a field reaches the field's own check.
fn reseal_native(b: &mut [u8]) {
    replay::native::fix_checksums(b);
}

#[test]
fn truncated_at_every_byte() {
    let mut cases = 0;
    for bytes in [
        kernel_log(512),
        kernel_log(4096),
        sample_native().to_native_bytes(),
    ] {
        for cut in 0..bytes.len() {
            let (native, dm) = parse_both(&bytes[..cut]);
            assert!(native.is_err() && dm.is_err(), "cut at {cut} parsed");
            cases += 1;
        }
    }
    // The dm cut errors name the entry and where it starts.
    let b = kernel_log(512);
    for cut in 513..b.len() {
        match Log::from_dm_log_writes_bytes(b[..cut].to_vec(), None) {
            Err(ReplayError::Truncated { offset, .. })
            | Err(ReplayError::DataPastEnd { offset, .. }) => {
                assert!(
                    offset as usize <= cut && offset % 512 == 0,
                    "cut {cut}: offset {offset}"
                )
            }
            other => panic!("cut {cut}: {other:?}"),
        }
    }
    eprintln!("truncated logs: {cases} cases");
}

#[test]
fn flipped_header_bytes() {
    let mut cases = 0;
    // dm-log-writes: every byte of the superblock's fields and of each
    // entry header, every bit, and 0xff.
    for ss in [512usize, 4096] {
        let good = kernel_log(ss);
        let mut headers = vec![0usize];
        let mut off = ss;
        while off < good.len() {
            headers.push(off);
            let nr = u64::from_le_bytes(good[off + 8..off + 16].try_into().unwrap()) as usize;
            let flags = u64::from_le_bytes(good[off + 16..off + 24].try_into().unwrap());
            off += ss
                + if flags & 5 == 0 && flags & 8 == 0 {
                    nr * ss
                } else {
                    0
                };
        }
        assert_eq!(headers.len(), 7);
        for &h in &headers {
            for at in h..h + 32 {
                for mask in [1u8, 2, 4, 8, 16, 32, 64, 128, 0xff] {
                    let mut b = good.clone();
                    b[at] ^= mask;
                    // Ok (a different valid log) or a typed error.
                    let _ = Log::from_dm_log_writes_bytes(b.clone(), None);
                    let _ = Log::from_dm_log_writes_bytes(b, Some(4096));
                    cases += 1;
                }
            }
        }
    }
    // Native: the header, every entry header and the trailer are
    // checksummed: any flip is an error.
    let good = sample_native().to_native_bytes();
    let trailer = good.len() - 32;
    let mut offs: Vec<usize> = (0..64).collect();
    let mut off = 64;
    while off < trailer {
        offs.extend(off..off + 56);
        let label = u32::from_le_bytes(good[off + 4..off + 8].try_into().unwrap()) as usize;
        let data = u64::from_le_bytes(good[off + 32..off + 40].try_into().unwrap()) as usize;
        off += 56 + label + data;
    }
    offs.extend(trailer..good.len());
    for at in offs {
        for mask in [1u8, 0x80, 0xff] {
            let mut b = good.clone();
            b[at] ^= mask;
            assert!(Log::from_native_bytes(b).is_err(), "flip at {at} parsed");
            cases += 1;
        }
    }
    eprintln!("flipped header bytes: {cases} cases");
}

#[test]
fn lying_fields() {
    let mut cases = 0;
    let mut check = |r: Result<Log, ReplayError>, ok: &dyn Fn(&ReplayError) -> bool| {
        match r {
            Err(e) => assert!(ok(&e), "unexpected error {e:?}"),
            Ok(_) => panic!("a lying log parsed"),
        }
        cases += 1;
    };
    // dm: sector numbers that overflow, or lie past the device.
    for ss in [512usize, 4096] {
        for sector in [u64::MAX, u64::MAX / 8 + 1, 1 << 60] {
            let mut b = kernel_log(ss);
            b[ss..ss + 8].copy_from_slice(&le(sector));
            check(Log::from_dm_log_writes_bytes(b.clone(), None), &|e| {
                matches!(
                    e,
                    ReplayError::BadEntry { index: 0, .. }
                        | ReplayError::EntryPastDevice { .. }
                        | ReplayError::BadDeviceSize(_)
                )
            });
            check(Log::from_dm_log_writes_bytes(b, Some(1 << 20)), &|e| {
                matches!(
                    e,
                    ReplayError::BadEntry { index: 0, .. }
                        | ReplayError::EntryPastDevice { index: 0, .. }
                )
            });
        }
        // nr_sectors: more than the file holds, overflowing in 512-byte units.
        for nr in [2u64, 1 << 20, u64::MAX / 2, u64::MAX] {
            let mut b = kernel_log(ss);
            b[ss + 8..ss + 16].copy_from_slice(&le(nr));
            check(Log::from_dm_log_writes_bytes(b, None), &|e| {
                matches!(
                    e,
                    ReplayError::DataPastEnd { index: 0, .. }
                        | ReplayError::BadEntry { .. }
                        | ReplayError::NrEntriesMismatch { .. }
                        | ReplayError::Truncated { .. }
                )
            });
        }
        // A discard that claims u64::MAX sectors.
        let mut b = kernel_log(ss);
        let discard = ss * 8; // super, W+data, mark, flush, FUA W+2 data
        assert_eq!(
            u64::from_le_bytes(b[discard + 16..discard + 24].try_into().unwrap()),
            4
        );
        b[discard + 8..discard + 16].copy_from_slice(&le(u64::MAX / (ss as u64 / 512)));
        check(Log::from_dm_log_writes_bytes(b, None), &|e| {
            matches!(
                e,
                ReplayError::BadEntry { .. }
                    | ReplayError::BadDeviceSize(_)
                    | ReplayError::EntryPastDevice { .. }
            )
        });
        // data_len on a write; a mark longer than its sector.
        for data_len in [1u64, ss as u64, u64::MAX] {
            let mut b = kernel_log(ss);
            b[ss + 24..ss + 32].copy_from_slice(&le(data_len));
            check(Log::from_dm_log_writes_bytes(b, None), &|e| {
                matches!(e, ReplayError::BadEntry { index: 0, .. })
            });
        }
        // nr_entries: too many (the log ends), too few (entries follow),
        // lying over zeros.
        for n in [7u64, 1000, u64::MAX] {
            let mut b = kernel_log(ss);
            b[16..24].copy_from_slice(&le(n));
            check(Log::from_dm_log_writes_bytes(b.clone(), None), &|e| {
                matches!(e, ReplayError::Truncated { index: 6, .. })
            });
            b.extend(vec![0u8; 8 * ss]);
            check(Log::from_dm_log_writes_bytes(b, None), &|e| {
                matches!(e, ReplayError::BadEntry { index: 6, .. })
            });
        }
        // Too few: not a lie but a log the kernel did not close (the
        // count is honoured; see dm_nr_entries_disagrees).
        for n in [0u64, 1, 5] {
            let mut b = kernel_log(ss);
            b[16..24].copy_from_slice(&le(n));
            let log = Log::from_dm_log_writes_bytes(b, None).unwrap();
            assert_eq!(log.provenance().dm_trailing_entries, 6 - n);
        }
    }
    // Native, resealed so that checksums hold and the field's own check
    // must catch the lie. Entry 0 is the 1024-byte write at sector 4.
    let good = sample_native().to_native_bytes();
    let field = |at: usize, v: u64| {
        let mut b = good.clone();
        b[at..at + 8].copy_from_slice(&le(v));
        b
    };
    for sector in [u64::MAX, u64::MAX - 1, 1 << 40, 127] {
        let mut b = field(64 + 16, sector);
        reseal_native(&mut b);
        check(Log::from_native_bytes(b), &|e| {
            matches!(
                e,
                ReplayError::EntryPastDevice {
                    index: 0,
                    offset: 64,
                    ..
                }
            )
        });
    }
    for nr in [0u64, 1, 3, u64::MAX] {
        let mut b = field(64 + 24, nr);
        reseal_native(&mut b);
        check(Log::from_native_bytes(b), &|e| {
            matches!(
                e,
                ReplayError::BadEntry {
                    index: 0,
                    offset: 64,
                    ..
                }
            )
        });
    }
    for data_len in [1 << 20, 1 << 40, u64::MAX] {
        let b = field(64 + 32, data_len);
        check(Log::from_native_bytes(b), &|e| {
            matches!(
                e,
                ReplayError::DataPastEnd {
                    index: 0,
                    offset: 64,
                    ..
                }
            )
        });
    }
    assert_eq!(sample_native().len(), 5);
    for n in [0u64, 1, 2, 4, 6, 1 << 40, u64::MAX] {
        let mut b = field(24, n);
        fix_native_header(&mut b);
        check(Log::from_native_bytes(b), &|e| {
            matches!(
                e,
                ReplayError::NrEntriesMismatch { .. }
                    | ReplayError::Truncated { .. }
                    | ReplayError::BadEntry { .. }
                    | ReplayError::EntryChecksum { .. }
                    | ReplayError::DataPastEnd { .. }
            )
        });
    }
    for dev in [0u64, 1, 511, 2048] {
        let mut b = field(16, dev);
        fix_native_header(&mut b);
        check(Log::from_native_bytes(b), &|e| {
            matches!(
                e,
                ReplayError::BadDeviceSize(_) | ReplayError::EntryPastDevice { .. }
            )
        });
    }
    eprintln!("lying fields: {cases} cases");
}

#[test]
fn empty_files_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, b"").unwrap();
    let mut cases = 0;
    for path in [empty.as_path(), dir.path()] {
        let what = if path.is_dir() { "directory" } else { "empty" };
        for format in [
            None,
            Some(replay::Format::Native),
            Some(replay::Format::DmLogWrites),
        ] {
            match replay::open_log(path, format, None) {
                Err(ReplayError::Io { path: p, source }) => {
                    assert_eq!(p, path);
                    assert!(source.to_string().contains(what), "{source}");
                }
                other => panic!("{}: {other:?}", path.display()),
            }
            cases += 1;
        }
        assert!(Log::read_native(path).is_err());
        assert!(Log::read_dm_log_writes(path, None).is_err());
        cases += 2;
    }
    let (a, b) = parse_both(&[]);
    assert!(matches!(a, Err(ReplayError::BadMagic { found: 0, .. })));
    assert!(matches!(b, Err(ReplayError::BadMagic { found: 0, .. })));
    assert!(replay::open_log(&dir.path().join("missing"), None, None).is_err());
    cases += 3;
    eprintln!("empty files, directories: {cases} cases");
}

/// Peak resident memory of this process (Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn huge_sparse_logs_stream() {
    const HUGE: u64 = 64 << 30;
    let dir = tempfile::tempdir().unwrap();
    let before = peak_rss_kib();
    let start = std::time::Instant::now();
    let sparse = |name: &str, head: &[u8]| {
        let p = dir.path().join(name);
        let f = std::fs::File::create(&p).unwrap();
        use std::io::Write;
        (&f).write_all(head).unwrap();
        f.set_len(HUGE).unwrap();
        p
    };
    // A valid dm-log-writes log at the head of a 64 GiB log device: the
    // zeros after it are not entries.
    let p = sparse("dm-ok", &kernel_log(512));
    let log = replay::open_log(&p, None, None).unwrap();
    assert_eq!(log.len(), 11);
    // nr_entries lies over 64 GiB of zeros.
    let mut head = dm_super(512, u64::MAX);
    head.extend(dm_entry(512, 2, 1, 0, b""));
    head.extend(vec![0xaa; 512]);
    let p = sparse("dm-lie", &head);
    assert!(matches!(
        replay::open_log(&p, None, None),
        Err(ReplayError::BadEntry {
            index: 1,
            offset: 1536,
            ..
        })
    ));
    // One huge write entry declared: data stays in the map.
    let mut head = dm_super(512, 1);
    head.extend(dm_entry(512, 0, (HUGE - 1024) / 512, 0, b""));
    let p = sparse("dm-big", &head);
    let log = replay::open_log(&p, None, None).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log.device_bytes(), HUGE);
    // Native: a header that declares 2^40 entries over zeros; a valid log
    // followed by zeros.
    let mut head = sample_native().to_native_bytes()[..64].to_vec();
    head[24..32].copy_from_slice(&le(1 << 40));
    fix_native_header(&mut head);
    let p = sparse("native-lie", &head);
    assert!(matches!(
        replay::open_log(&p, None, None),
        Err(ReplayError::BadEntry {
            index: 0,
            offset: 64,
            ..
        })
    ));
    let p = sparse("native-tail", &sample_native().to_native_bytes());
    assert!(matches!(
        replay::open_log(&p, None, None),
        Err(ReplayError::Trailer { .. })
    ));
    let elapsed = start.elapsed();
    eprintln!("huge sparse logs: 5 cases in {elapsed:?}");
    assert!(elapsed < std::time::Duration::from_secs(20), "{elapsed:?}");
    if let (Some(a), Some(b)) = (before, peak_rss_kib()) {
        assert!(
            b.saturating_sub(a) < 256 * 1024,
            "peak RSS grew {a} -> {b} KiB"
        );
    }
}
