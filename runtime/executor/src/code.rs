//! The compiled-code budget: the bytes of compiled code the sandboxes hold, each distinct module
//! counted once however many sandboxes share it. Without it, `/init` of ever more distinct
//! modules would fill the executor's memory with code; past it, `/init` of new code is refused
//! (code that a live sandbox already holds costs nothing more and is still accepted).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wow_protocol::Failure;

use crate::cache::Digest;
use crate::lock::lock;

pub struct CodeBudget {
    limit: u64,
    /// Per distinct module: its size and how many sandboxes hold it.
    held: Mutex<HashMap<Digest, (u64, usize)>>,
    /// Bytes held now (for `/metrics`).
    pub bytes: AtomicU64,
}

/// One sandbox's hold on its module's code; released when the sandbox's action is dropped.
pub struct CodeCharge {
    budget: Arc<CodeBudget>,
    digest: Digest,
}

impl CodeBudget {
    pub fn new(limit: u64) -> Arc<CodeBudget> {
        Arc::new(CodeBudget {
            limit,
            held: Mutex::new(HashMap::new()),
            bytes: AtomicU64::new(0),
        })
    }

    /// Charges a sandbox's hold on a module of `size` bytes of compiled code, refused if new
    /// code would pass the budget.
    pub fn charge(self: &Arc<Self>, digest: Digest, size: u64) -> Result<CodeCharge, Failure> {
        let mut held = lock(&self.held);
        if let Some((_, holders)) = held.get_mut(&digest) {
            *holders += 1;
        } else {
            let now = self.bytes.load(Ordering::Relaxed);
            if now + size > self.limit {
                return Err(Failure::Overloaded(format!(
                    "The sandboxes hold {now} bytes of compiled code; this module's {size} more \
                     would pass the executor's code budget of {} bytes. Destroy sandboxes first.",
                    self.limit
                )));
            }
            held.insert(digest, (size, 1));
            self.bytes.fetch_add(size, Ordering::Relaxed);
        }
        Ok(CodeCharge {
            budget: self.clone(),
            digest,
        })
    }
}

impl Drop for CodeCharge {
    fn drop(&mut self) {
        let mut held = lock(&self.budget.held);
        if let Some((size, holders)) = held.get_mut(&self.digest) {
            *holders -= 1;
            if *holders == 0 {
                let size = *size;
                held.remove(&self.digest);
                self.budget.bytes.fetch_sub(size, Ordering::Relaxed);
            }
        }
    }
}
