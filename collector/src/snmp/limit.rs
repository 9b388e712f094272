//! Bounds the SNMP requests in flight across all targets (`max_concurrent_operations`).

use super::{Oid, SnmpResult, SnmpSession, SnmpVersion, VarBind};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// A session whose every request first takes a permit from a shared semaphore.
pub struct Limited<S> {
    pub inner: S,
    pub permits: Arc<Semaphore>,
}

impl<S: SnmpSession> SnmpSession for Limited<S> {
    fn version(&self) -> SnmpVersion {
        self.inner.version()
    }
    async fn get(&self, oids: &[Oid]) -> SnmpResult<Vec<VarBind>> {
        let _p = self.permits.acquire().await;
        self.inner.get(oids).await
    }
    async fn get_next(&self, oids: &[Oid]) -> SnmpResult<Vec<VarBind>> {
        let _p = self.permits.acquire().await;
        self.inner.get_next(oids).await
    }
    async fn get_bulk(&self, oids: &[Oid], max_repetitions: u32) -> SnmpResult<Vec<VarBind>> {
        let _p = self.permits.acquire().await;
        self.inner.get_bulk(oids, max_repetitions).await
    }
}
