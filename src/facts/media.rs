//! `media.*`: the owner Media, from `GET /api/media/<uuid>`.

use super::group::{Field, Group, ReadFuture, TestForm};
use super::read::OwnerReader;
use super::value::{Record, Value};
use crate::vcd::model::owner::parse_media;

pub(super) static MEDIA: Group = Group {
    name: "media",
    fields: &[
        // The size the uploading client declared, in GiB, as a fraction (bytes / 2^30).
        Field::number("size_gb", "Media size"),
        // The image type, e.g. `iso`, `floppy`.
        Field::text("image_type", "Media imageType"),
    ],
    open: None,
    owners: &["media"],
    each: None,
    test: TestForm::ONE,
    read,
};

fn read<'a>(reader: &'a OwnerReader<'a>) -> ReadFuture<'a> {
    Box::pin(async move {
        let media = reader.read(reader.owner()?, parse_media).await?;
        let record = Record::new("")
            .with("size_gb", media.size_gb.map(Value::Number))
            .with("image_type", media.image_type.map(Value::Text));
        Ok(vec![record])
    })
}
