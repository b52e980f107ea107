//! `metadata.<key>`: the owner's metadata entries, from `GET <owner>/metadata`, each value as
//! text (numbers, booleans and dates as vCD wrote them). Any key is a fact.

use super::group::{Group, ReadFuture, TestForm};
use super::read::OwnerReader;
use super::value::{Record, Value};
use crate::vcd::model::owner::parse_metadata;

pub(super) static METADATA: Group = Group {
    name: "metadata",
    fields: &[],
    open: Some("metadata entry"),
    owners: &["vapp", "vm", "media"],
    each: None,
    test: TestForm::ONE,
    read,
};

fn read<'a>(reader: &'a OwnerReader<'a>) -> ReadFuture<'a> {
    Box::pin(async move {
        let entries = reader
            .read_metadata(reader.owner()?, parse_metadata)
            .await?;
        let record = entries
            .into_iter()
            .fold(Record::new(""), |record, (key, value)| {
                record.with(&key, Some(Value::Text(value)))
            });
        Ok(vec![record])
    })
}
