//! The finding of `FINDINGS.md`, reproduced without brownout: ekv on a
//! plain in-memory flash that loses power after its `n`-th write, for
//! every `n`; after each cut, a reboot (mount over the same bytes) must
//! show every transaction whose commit returned. The test asserts what ekv
//! 1.0.0 does today; when it fails, upstream fixed the bug and FINDINGS.md
//! should say so.

use ekv::flash::{Flash, PageID};
use ekv::{Config, Database};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use std::future::Future;
use std::task::{Context, Poll, Waker};

const PAGE: usize = ekv::config::PAGE_SIZE;
const PAGES: usize = 32;

/// Flash in memory that loses power after `budget` writes: `lost` keeps
/// the chip as it was then (the calls go on, so that ekv runs on as if
/// nothing happened; only the chip at the cut matters).
struct Cut {
    bytes: Vec<u8>,
    budget: usize,
    lost: Option<Vec<u8>>,
}

impl Cut {
    fn call(&mut self) {
        if self.budget == 0 && self.lost.is_none() {
            self.lost = Some(self.bytes.clone());
        }
        self.budget = self.budget.saturating_sub(1);
    }
}

#[derive(Debug)]
enum PowerLost {}

impl Flash for Cut {
    type Error = PowerLost;
    fn page_count(&self) -> usize {
        PAGES
    }
    async fn erase(&mut self, page: PageID) -> Result<(), PowerLost> {
        self.call();
        let at = page.index() * PAGE;
        self.bytes[at..at + PAGE].fill(0xff);
        Ok(())
    }
    async fn read(
        &mut self,
        page: PageID,
        offset: usize,
        data: &mut [u8],
    ) -> Result<(), PowerLost> {
        let at = page.index() * PAGE + offset;
        data.copy_from_slice(&self.bytes[at..at + data.len()]);
        Ok(())
    }
    async fn write(&mut self, page: PageID, offset: usize, data: &[u8]) -> Result<(), PowerLost> {
        self.call();
        let at = page.index() * PAGE + offset;
        for (b, d) in self.bytes[at..at + data.len()].iter_mut().zip(data) {
            *b &= d;
        }
        Ok(())
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("nothing waits"),
    }
}

/// Formats a chip, then commits one-key transactions (key `i % 4`, value
/// `[i; 8]`); returns the chip as the power cut after `budget` calls left
/// it (if it came) and, per key, the last value whose commit returned
/// before it.
fn run_until_cut(budget: usize) -> Option<(Vec<u8>, [Option<u8>; 4])> {
    let db = Database::<_, NoopRawMutex>::new(
        Cut {
            bytes: vec![0xff; PAGE * PAGES],
            budget: usize::MAX,
            lost: None,
        },
        Config::default(),
    );
    block_on(db.format()).unwrap();
    block_on(db.lock_flash()).budget = budget;
    let mut acked = [None; 4];
    for i in 0..60u8 {
        block_on(async {
            let mut tx = db.write_transaction().await;
            tx.write(&[i % 4], &[i; 8]).await.unwrap();
            tx.commit().await.unwrap()
        });
        if block_on(db.lock_flash()).lost.is_some() {
            break;
        }
        acked[(i % 4) as usize] = Some(i);
    }
    let lost = block_on(db.lock_flash()).lost.take()?;
    Some((lost, acked))
}

#[test]
fn a_power_cut_while_ekv_starts_a_new_meta_page_loses_every_key() {
    let mut lost = Vec::new();
    for budget in 0..2000 {
        let Some((bytes, acked)) = run_until_cut(budget) else {
            break;
        };
        let db = Database::<_, NoopRawMutex>::new(
            Cut {
                bytes,
                budget: usize::MAX,
                lost: None,
            },
            Config::default(),
        );
        if block_on(db.mount()).is_err() {
            lost.push((budget, "mount failed".to_string()));
            continue;
        }
        for (k, want) in acked.iter().enumerate() {
            let Some(want) = want else { continue };
            let mut buf = [0u8; 8];
            let got = block_on(async {
                let tx = db.read_transaction().await;
                tx.read(&[k as u8], &mut buf).await.map(|_| buf[0])
            });
            // A transaction whose commit returned is durable; the one the
            // cut interrupted may or may not be there.
            if got.as_ref().ok() != Some(want) && got.as_ref().ok() != Some(&(want + 4)) {
                lost.push((budget, format!("key {k}: committed {want}, read {got:?}")));
            }
        }
    }
    let mut points: Vec<usize> = lost.iter().map(|l| l.0).collect();
    points.dedup();
    eprintln!(
        "{} cut points lose data: {points:?}; first: {:?}",
        points.len(),
        lost.first()
    );
    assert!(!lost.is_empty(), "upstream fixed the meta page finding?");
}
