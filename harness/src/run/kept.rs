//! Recoveries kept for the crash states after them.
//!
//! Many crash states differ from one already checked only where recovery
//! never looks: the next prefix position wrote a block that no committed
//! metadata points at yet, or only acknowledged something; the same image
//! comes back in another mark interval. A deterministic target's recovery,
//! its reading back and its own check depend on nothing but the bytes they
//! read, and every read goes through the recording device (the kernel
//! targets' too: through FUSE with `direct_io`, and every session ends by
//! dropping its loop device's cache, brownout-linux's `Session::drop_cache`,
//! so that no read is served from blocks of another image). On an image
//! holding the same bytes in every chunk a recovery read, it would read the
//! same, write the same log and leave the same view: that recovery stands
//! for the new state. The state is still judged at its own position, and
//! crashes inside its recovery are still explored on its own image.
//!
//! A device that cannot say what it read (`Recorder::chunks_read` is
//! `None`) keeps nothing. Whatever a device logs on its own must be
//! derived from what it read, or it must not say.

use replay::image::Image;
use replay::log::Log;
use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Recoveries kept per thread, newest first: a state's neighbours and the
/// crashes inside their recoveries.
const KEPT: usize = 16;

thread_local! {
    static RECOVERIES: RefCell<VecDeque<Rc<Kept>>> = const { RefCell::new(VecDeque::new()) };
}

/// A fresh key for one checker (its workload, model and configuration):
/// recoveries are only ever reused by the checker that ran them.
pub fn checker_key() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One recovery: the image it ran on, the chunks it read, what the checker
/// made of it, and its log where it was recorded.
pub struct Kept {
    checker: u64,
    image: Image,
    /// `None`: the device did not say, and this recovery stands for no
    /// other.
    chunks_read: Option<Vec<u64>>,
    log: Option<Log>,
    view: Box<dyn Any>,
}

impl Kept {
    /// The recovery `checker` ran on `image`, having read `chunks_read`
    /// (`None`: unknown); `log` where recovery was recorded.
    pub fn new<T: Any>(
        checker: u64,
        image: &Image,
        chunks_read: Option<Vec<u64>>,
        log: Option<Log>,
        view: T,
    ) -> Self {
        Kept {
            checker,
            image: image.clone(),
            chunks_read,
            log,
            view: Box::new(view),
        }
    }

    /// What the checker made of the recovered image.
    ///
    /// # Panics
    /// If `T` is not the type it was kept with (one checker, one type).
    pub fn view<T: Any>(&self) -> &T {
        self.view
            .downcast_ref()
            .expect("a checker reads back the type it kept")
    }

    /// Recovery's log where `record` asks for it (it was then recorded).
    pub fn log(&self, record: bool) -> Option<Log> {
        record.then(|| self.log.clone()).flatten()
    }

    fn stands_for(&self, checker: u64, image: &Image, record: bool) -> bool {
        self.checker == checker
            && (!record || self.log.is_some())
            && self
                .chunks_read
                .as_ref()
                .is_some_and(|chunks| image.same_chunks(&self.image, chunks))
    }
}

/// A kept recovery of `checker` that stands for one on `image` (with its
/// log, where `record`).
pub fn find(checker: u64, image: &Image, record: bool) -> Option<Rc<Kept>> {
    RECOVERIES.with_borrow(|kept| {
        kept.iter()
            .find(|k| k.stands_for(checker, image, record))
            .cloned()
    })
}

/// Keeps `recovery` (forgetting the oldest beyond the bound), where its
/// device said what it read.
pub fn keep(recovery: Kept) -> Rc<Kept> {
    let recovery = Rc::new(recovery);
    if recovery.chunks_read.is_none() {
        return recovery;
    }
    RECOVERIES.with_borrow_mut(|kept| {
        kept.truncate(KEPT - 1);
        kept.push_front(recovery.clone());
    });
    recovery
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::disk::Disk;

    #[test]
    fn a_recovery_stands_for_images_with_the_same_bytes_where_it_read() {
        let mut image = Image::new(64 * 4096);
        image.write(0, &[1; 4096]);
        // What a device over the image reports: the chunks its reads
        // touched (a read across a boundary touches both).
        let mut disk = Disk::over_image(image.clone(), false);
        let mut buf = vec![0u8; 1024];
        disk.read(7, &mut buf).unwrap(); // bytes 3584..4608: chunks 0 and 1
        disk.read(0, &mut buf).unwrap();
        disk.read(8, &mut buf).unwrap(); // chunk 1 again
        let chunks_read = disk.take_chunks_read();
        assert_eq!(chunks_read, Some(vec![0, 1]));
        assert_eq!(Disk::new(4096, Vec::new(), false).take_chunks_read(), None);

        let checker = checker_key();
        keep(Kept::new(checker, &image, chunks_read, None, 42u32));
        let mut elsewhere = image.clone();
        elsewhere.write(5 * 4096, &[2; 10]);
        let kept = find(checker, &elsewhere, false).expect("chunk 5 was not read");
        assert_eq!(*kept.view::<u32>(), 42);
        assert!(kept.log(true).is_none());
        // Not where a read chunk changed, not for another checker, not
        // where a recovery log is needed and none was recorded.
        let mut there = image.clone();
        there.write(4096 + 100, &[2]);
        assert!(find(checker, &there, false).is_none());
        assert!(find(checker_key(), &elsewhere, false).is_none());
        assert!(find(checker, &elsewhere, true).is_none());
        // A device that cannot say what it read keeps nothing.
        let blind = checker_key();
        keep(Kept::new(blind, &image, None, None, 0u32));
        assert!(find(blind, &image, false).is_none());
    }
}
