//! Bad workload texts shared by the library and CLI robustness tests.
#![allow(dead_code)]

use brownout::workload::{FILE_LIMIT, MAX_FILES, MAX_IO, MAX_OPS, MAX_SCHEDULE};

/// `(text, line of the error, words the message must contain)`.
pub fn bad_workloads() -> Vec<(String, usize, &'static str)> {
    let big = u64::MAX.to_string();
    let mut v: Vec<(String, usize, &'static str)> = Vec::new();
    let mut add = |text: &str, line: usize, needle: &'static str| {
        v.push((text.to_string(), line, needle));
    };
    // Unknown operations.
    for op in [
        "frobnicate f0",
        "Write f0 0 1",
        "dio_write f0 0 4096",
        "fsync-all",
        "f0",
        "123",
        "write-f0",
    ] {
        add(
            &format!("files: 2\ncreate f0\n{op}\n"),
            3,
            "unknown operation",
        );
    }
    // Missing arguments.
    for (op, needle) in [
        ("create", "missing file"),
        ("fsync", "missing file"),
        ("fdatasync", "missing file"),
        ("dio-wait", "missing file"),
        ("write", "missing file"),
        ("write f0", "missing offset"),
        ("write f0 0", "missing length"),
        ("dio-write f0 0", "missing length"),
        ("read f0", "missing offset"),
        ("truncate f0", "missing size"),
        ("writeback", "missing argument"),
        ("writeback f0 pages", "missing page count"),
        ("complete", "missing request pick"),
    ] {
        add(&format!("{op}\n"), 1, needle);
    }
    // Extra or unknown arguments.
    for op in [
        "create f0 f1",
        "fsync f0 now",
        "dio-wait f0 f1",
        "syncfs 1",
        "remount now",
        "complete 1 2",
        "truncate f0 1 2",
        "read f0 0 1 dsync",
        "write f0 0 1 aio",
        "dio-write f0 0 4096 fua",
        "writeback all pages 1 2",
    ] {
        add(&format!("{op}\n"), 1, "unexpected argument");
    }
    add("write f0 0 1 dsync dsync\n", 1, "given twice");
    add("writeback all banana\n", 1, "expected `pages N`");
    // Numbers: not numbers, past the file limit, out of range.
    for op in [
        "write f0 -1 1",
        "write f0 1e3 1",
        "write f0 0x10 1",
        "read f0 0 ten",
        "write f0 0 18446744073709551616",
        "truncate f0 -5",
    ] {
        add(&format!("{op}\n"), 1, "as a number");
    }
    for op in [
        format!("write f0 {FILE_LIMIT} 1"),
        format!("write f0 {} 2", FILE_LIMIT - 1),
        format!("read f0 {big} 1"),
        format!("write f0 {big} {MAX_IO}"),
        format!("dio-write f0 {FILE_LIMIT} 4096"),
        format!("dio-write f0 {big} 4096"),
        format!("truncate f0 {}", FILE_LIMIT + 1),
        format!("truncate f0 {big}"),
    ] {
        add(&format!("{op}\n"), 1, "file limit");
    }
    for op in [
        "write f0 0 0".to_string(),
        format!("write f0 0 {}", MAX_IO + 1),
        format!("read f0 0 {big}"),
        "dio-write f0 0 0".to_string(),
    ] {
        add(&format!("{op}\n"), 1, "out of range");
    }
    add("complete 4294967296\n", 1, "too large");
    add("writeback f0 pages 4294967296\n", 1, "too large");
    add("files: 0\n", 1, "out of range");
    add(&format!("files: {}\n", MAX_FILES + 1), 1, "out of range");
    add(&format!("files: {big}0\n"), 1, "as a number");
    add("schedule: 1 2 4294967296\n", 1, "too large");
    let long: Vec<String> = (0..=MAX_SCHEDULE).map(|_| "0".to_string()).collect();
    add(&format!("schedule: {}\n", long.join(" ")), 1, "too long");
    // File index past the file count.
    add(
        "files: 2\ncreate f0\nwrite f2 0 1\n",
        3,
        "past the file count",
    );
    add("create f4\n", 1, "past the file count"); // default: 4 files
    add("files: 1\nfsync f1\n", 2, "past the file count");
    add("files: 8\ndio-wait f8\n", 2, "past the file count");
    add("writeback f9 pages 1\n", 1, "past the file count");
    add("create f99999999999\n", 1, "expected a file");
    add("create file0\n", 1, "expected a file");
    add("create f-1\n", 1, "expected a file");
    // Misaligned direct I/O the workload did not ask for, and the reverse.
    for (off, len) in [
        (1u64, 4096u64),
        (0, 100),
        (512, 4096),
        (4095, 4097),
        (4096, 8191),
    ] {
        add(
            &format!("dio-write f0 {off} {len} dsync\n"),
            1,
            "add `misaligned`",
        );
    }
    add("dio-write f0 4096 4096 misaligned\n", 1, "is aligned");
    // Bug switches, rules, other headers.
    for bugs in [
        "nosuch",
        "dsync-no-flush, nosuch",
        "DSYNC-NO-FLUSH",
        "dsync_no_flush",
    ] {
        add(&format!("bugs: {bugs}\n"), 1, "unknown bug switch");
    }
    for rule in [
        "rule-9",
        "0",
        "9",
        "dio",
        "recovery2",
        "rule 10",
        "ACKED-DATA",
    ] {
        add(
            &format!("files: 1\nexpect: {rule}\n"),
            2,
            "unknown oracle rule",
        );
    }
    add("target: ext4\n", 1, "unknown target");
    add("barrier: sometimes\n", 1, "unknown barrier");
    add("mode: random\n", 1, "unknown crash mode");
    add("colour: blue\n", 1, "unknown header");
    add("files: 2\nfiles: 3\n", 2, "given twice");
    add("create f0\nfiles: 2\n", 2, "headers come first");
    // Too many operations.
    let many = "syncfs\n".repeat(MAX_OPS + 1);
    add(&many, MAX_OPS + 1, "too many operations");
    // Empty files.
    for text in [
        "",
        "\n\n",
        "   \n\t\n",
        "# only a comment\n",
        "  # indented comment",
    ] {
        add(text, 0, "empty workload");
    }
    v
}
