//! A versioned bucket keeps the data of a plain delete, so every version and delete marker is
//! listed (ListObjectVersions) and deleted by its id, in one chain.

use super::{Lister, decoded};
use crate::store::StoreError;
use crate::store::engine::Listed;
use crate::store::engine::page::Page;
use aws_sdk_s3::types::EncodingType;
use tokio::sync::mpsc;
use tokio::time::timeout_at;

impl Lister<'_> {
    /// Every version and delete marker under the root, in one chain: a versioned bucket keeps
    /// the data of a plain delete, so each version is deleted by its id. Whether everything was
    /// listed, as [`Lister::run`].
    pub(super) async fn run_versions(
        &self,
        pages: &mpsc::Sender<Page>,
    ) -> Result<bool, StoreError> {
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let Ok(slot) = self.reserve(pages).await else { return Ok(false) };
            if !self.budget.allows_new_work() {
                return Ok(false);
            }
            // ListObjectVersions has no paginator in the SDK: page with the markers.
            let request = self
                .client
                .list_object_versions()
                .bucket(self.target.bucket())
                .prefix(self.target.root())
                .encoding_type(EncodingType::Url)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker);
            let Ok(page) = timeout_at(self.budget.cut_at, request.send()).await else {
                return Ok(false);
            };
            let page = page.map_err(|e| self.error(self.target.root(), e))?;
            let encoded = page.encoding_type() == Some(&EncodingType::Url);
            let versions = page.versions().iter().filter_map(|v| {
                let key = decoded(v.key()?, encoded);
                let size = v.size().unwrap_or(0).max(0) as u64;
                Some(Listed { key, version_id: v.version_id().map(str::to_owned), size })
            });
            let markers = page.delete_markers().iter().filter_map(|m| {
                let key = decoded(m.key()?, encoded);
                Some(Listed { key, version_id: m.version_id().map(str::to_owned), size: 0 })
            });
            self.send(slot, self.confine(versions.chain(markers)));
            if !page.is_truncated().unwrap_or(false) {
                return Ok(true);
            }
            key_marker = page.next_key_marker().map(|k| decoded(k, encoded));
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                return Ok(true);
            }
        }
    }
}
