//! The `mount_image` cargo-fuzz target's body: the embedded filesystem
//! mounted on an arbitrary image of bounded size, with a small step
//! budget; never panics, never hangs. It is this engine's own robustness
//! target, so it lives with its adapter.

use fs_under_test::{mkfs, Filesystem, MemDevice, MkfsOptions, MountOptions, BLOCK_SIZE};
use std::sync::OnceLock;

/// Largest image `mount_image` mounts.
pub const MAX_IMAGE_BYTES: usize = 2 << 20;
/// The step budget of `mount_image`'s mount and operations: small, so no
/// image makes an execution slow.
pub const MOUNT_STEP_BUDGET: u64 = 1 << 15;
/// Size of the base image of patch mode.
const BASE_IMAGE_BYTES: usize = 512 << 10;

/// A valid image whose journal still holds transactions (the filesystem
/// crashed, not unmounted): the base that patch mode mutates.
pub fn base_image() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(build_base_image)
}

fn build_base_image() -> Vec<u8> {
    let mut dev = MemDevice::new(BASE_IMAGE_BYTES);
    // A fixed, valid recipe on a fresh device: failures here are bugs of
    // the filesystem, not of the input; the image is whatever was reached.
    if mkfs(&mut dev, &MkfsOptions::default()).is_err() {
        return dev.image().to_vec();
    }
    let Ok(mut fs) = Filesystem::mount(dev.clone(), MountOptions::default()) else {
        return dev.image().to_vec();
    };
    for ino in 0..3u32 {
        let _ = fs.create(ino);
        let data: Vec<u8> = (0..6000u32).map(|i| (i % 251) as u8 + 1).collect();
        let _ = fs.write(ino, 0, &data, false);
        let _ = fs.fsync(ino);
        let _ = fs.dio_write(ino, 8192, &[0x5a; 8192], true, false);
    }
    let _ = fs.truncate(1, 100);
    let _ = fs.write(2, 20_000, &[7; 3000], true);
    fs.crash().image().to_vec()
}

/// The `mount_image` target. The first byte chooses the image: bit 0
/// clear, the rest of the input is the image (at most 2 MiB, cut to whole
/// sectors); bit 0 set, the rest is a list of patches applied to a valid
/// image with a busy journal ([`base_image`]): each is a little-endian
/// 24-bit offset (modulo the image size), a length byte, and that many
/// bytes. The image is mounted with a small step budget; if it mounts,
/// every file is read, written (buffered and direct), truncated, synced,
/// and the filesystem unmounted and mounted again. Errors are fine; a
/// panic or a hang is a bug.
pub fn mount_image(data: &[u8]) {
    if let Some(image) = image_of_input(data) {
        poke(image);
    }
}

/// The image [`mount_image`] mounts for `data` (`None` for empty input).
pub fn image_of_input(data: &[u8]) -> Option<Vec<u8>> {
    let (&sel, rest) = data.split_first()?;
    Some(if sel & 1 == 0 {
        rest[..rest.len().min(MAX_IMAGE_BYTES)].to_vec()
    } else {
        patch(base_image(), rest)
    })
}

fn patch(base: &[u8], mut patches: &[u8]) -> Vec<u8> {
    let mut img = base.to_vec();
    while patches.len() >= 4 {
        let at = (usize::from(patches[0])
            | usize::from(patches[1]) << 8
            | usize::from(patches[2]) << 16)
            % img.len();
        let n = usize::from(patches[3]).min(patches.len() - 4);
        let n = n.min(img.len() - at);
        img[at..at + n].copy_from_slice(&patches[4..4 + n]);
        patches = &patches[4 + n..];
    }
    img
}

/// Mounts `image`; if that works, runs a few operations over every file
/// and remounts. Returns whether the first mount succeeded.
pub fn poke(image: Vec<u8>) -> bool {
    let opts = MountOptions {
        step_budget: MOUNT_STEP_BUDGET,
        ..MountOptions::default()
    };
    let Ok(mut fs) = Filesystem::mount(MemDevice::from_image(image), opts.clone()) else {
        return false;
    };
    for ino in 0..fs.inode_count().min(16) {
        if !fs.exists(ino) {
            continue;
        }
        if let Ok(size) = fs.size(ino) {
            let _ = fs.read(ino, 0, size.min(64 << 10));
        }
        let _ = fs.write(ino, 100, b"mount_image", true);
        let _ = fs.dio_write(ino, BLOCK_SIZE as u64, &[1; BLOCK_SIZE], true, true);
        let _ = fs.truncate(ino, 10);
        let _ = fs.fdatasync(ino);
    }
    let _ = fs.syncfs();
    if let Ok(dev) = fs.unmount() {
        let _ = Filesystem::mount(dev, opts);
    }
    true
}
