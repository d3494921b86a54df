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
    let mut b = kernel_log(512);
    b[16..24].copy_from_slice(&le(5));
    match Log::from_dm_log_writes_bytes(b, None) {
        Err(ReplayError::NrEntriesMismatch {
            declared: 5,
            offset,
            ..
        }) => {
            assert_eq!(offset, 512 * 9)
        }
        other => panic!("{other:?}"),
    }
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
fn export_rejects_what_dm_cannot_express() {
    let mut b = LogBuilder::new(64 * 1024);
    b.mark(&"x".repeat(600), &[]);
    assert!(matches!(
        b.finish().to_dm_log_writes_bytes(),
        Err(ReplayError::Export { index: 0, .. })
    ));
}
