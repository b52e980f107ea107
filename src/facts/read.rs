//! The [`OwnerReader`] a group's `read` gets: the task, its owner, and the owner's documents
//! (and those of the vApp and VDC it lives in) through the vCD client, each fetched at most
//! once per task however many groups read it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::value::Unknown;
use crate::task::BlockingTask;
use crate::vcd::model::ModelError;
use crate::vcd::{OwnerRef, VcdClient, VcdError};

/// Which document of an object: the object's own, or its `/metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Document {
    Own(OwnerRef),
    Metadata(OwnerRef),
}

/// Reads what one task's owner facts come from. Documents are kept for the task (the text vCD
/// answered, or why it could not be had), so `vapp` and `vm` share one `GET` of the vApp.
pub(crate) struct OwnerReader<'a> {
    vcd: &'a VcdClient,
    task: &'a BlockingTask,
    /// `None` when the task names no owner of a type with documents, or no UUID.
    owner: Option<OwnerRef>,
    documents: Mutex<HashMap<Document, Result<Arc<str>, Unknown>>>,
}

impl<'a> OwnerReader<'a> {
    /// A reader for `task`, whose owner (`vApp`, `vm`, `media`) it reads.
    pub(crate) fn new(vcd: &'a VcdClient, task: &'a BlockingTask) -> OwnerReader<'a> {
        OwnerReader {
            vcd,
            task,
            owner: OwnerRef::new(&task.owner.kind, &task.owner.id),
            documents: Mutex::new(HashMap::new()),
        }
    }

    /// The task whose facts are read: its org, user and operation, for a group of facts not
    /// about the owner (a quota count).
    #[allow(dead_code, reason = "no group reads facts beyond the owner yet")]
    pub(crate) fn task(&self) -> &BlockingTask {
        self.task
    }

    /// The owner; unknown ("the task's owner is a …") when it has no document to read.
    pub(crate) fn owner(&self) -> Result<OwnerRef, Unknown> {
        let kind = &self.task.owner.kind;
        self.owner.ok_or_else(|| Unknown::OwnerType(kind.clone()))
    }

    /// The document of `object` (the owner, its vApp or its VDC), parsed with `parse`, one of
    /// `vcd::model`'s parsers.
    pub(crate) async fn read<T>(
        &self,
        object: OwnerRef,
        parse: fn(&str) -> Result<T, ModelError>,
    ) -> Result<T, Unknown> {
        let text = self.fetch(Document::Own(object)).await?;
        parse(&text).map_err(|source| read_failed(decode(object.op(), source)))
    }

    /// The `/metadata` document of `object`, parsed with `parse`.
    pub(crate) async fn read_metadata<T>(
        &self,
        object: OwnerRef,
        parse: fn(&str) -> Result<T, ModelError>,
    ) -> Result<T, Unknown> {
        let text = self.fetch(Document::Metadata(object)).await?;
        parse(&text).map_err(|source| read_failed(decode("get_metadata", source)))
    }

    async fn fetch(&self, document: Document) -> Result<Arc<str>, Unknown> {
        let known = self.documents().get(&document).cloned();
        if let Some(known) = known {
            return known;
        }
        let answer = match document {
            Document::Own(object) => self.vcd.owner_document(object).await,
            Document::Metadata(object) => self.vcd.owner_metadata(object).await,
        };
        let answer = answer.map(Arc::from).map_err(read_failed);
        self.documents().insert(document, answer.clone());
        answer
    }

    fn documents(&self) -> std::sync::MutexGuard<'_, HashMap<Document, Result<Arc<str>, Unknown>>> {
        // The map is only read and written whole; a panic elsewhere cannot leave it torn.
        self.documents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn decode(op: &'static str, source: ModelError) -> VcdError {
    VcdError::Decode { op, source }
}

fn read_failed(error: VcdError) -> Unknown {
    Unknown::ReadFailed(error.to_string())
}
