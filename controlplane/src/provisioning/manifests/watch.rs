//! Re-applies the folder when its files change.
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use super::{apply, fingerprint, load_dir, Applied};
use crate::state::AppState;

pub async fn load_and_apply(state: &AppState, dir: &Path) -> anyhow::Result<Applied> {
    let m = load_dir(dir)?;
    apply(state, dir, &m).await
}

/// Polling (not inotify) because Kubernetes updates mounted ConfigMaps by swapping a symlink,
/// which file watchers commonly miss.
pub async fn watch(state: std::sync::Arc<AppState>, dir: PathBuf, every: Duration) {
    let mut last = fingerprint(&dir);
    loop {
        tokio::time::sleep(every).await;
        let now = fingerprint(&dir);
        if now != last {
            last = now;
            if let Err(e) = load_and_apply(&state, &dir).await {
                tracing::error!(error = %e, dir = %dir.display(), "re-applying manifests failed");
            }
        }
    }
}
