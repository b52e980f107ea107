//! The owner documents as `GET` answers them: `/api/vApp/{vapp-|vm-}<uuid>`, `/api/media/<uuid>`,
//! their `/metadata`, and `/api/vdc/<uuid>`. An object no task registered answers 404 as vCD
//! does.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::auth::XmlApi;
use crate::model::OwnerType;
use crate::owner_xml;
use crate::reply::{ApiError, typed};
use crate::shared::Shared;

/// `GET /api/vApp/vapp-<uuid>` or `GET /api/vApp/vm-<uuid>`.
pub(crate) async fn vapp_or_vm(
    State(shared): State<Arc<Shared>>,
    XmlApi(auth): XmlApi,
    Path(reference): Path<String>,
) -> Response {
    let found = vapp_reference(&reference).and_then(|(kind, id)| {
        let owner = shared.state().owner(id).cloned()?;
        (owner.kind == kind).then_some(owner)
    });
    let Some(owner) = found else {
        return not_found(&reference).version(&auth.version).into_response();
    };
    let (media, body) = match owner.kind {
        OwnerType::Vm => (owner_xml::VM_TYPE, owner_xml::vm(&shared.base_url, &owner)),
        _ => (
            owner_xml::VAPP_TYPE,
            owner_xml::vapp(&shared.base_url, &owner),
        ),
    };
    typed(StatusCode::OK, media, Some(&auth.version), body)
}

/// `GET /api/media/<uuid>`.
pub(crate) async fn media(
    State(shared): State<Arc<Shared>>,
    XmlApi(auth): XmlApi,
    Path(id): Path<String>,
) -> Response {
    let found = Uuid::parse_str(&id).ok().and_then(|id| {
        let owner = shared.state().owner(id).cloned()?;
        (owner.kind == OwnerType::Media).then_some(owner)
    });
    match found {
        Some(owner) => typed(
            StatusCode::OK,
            owner_xml::MEDIA_TYPE,
            Some(&auth.version),
            owner_xml::media(&shared.base_url, &owner),
        ),
        None => not_found(&id).version(&auth.version).into_response(),
    }
}

/// `GET /api/vdc/<uuid>`.
pub(crate) async fn vdc(
    State(shared): State<Arc<Shared>>,
    XmlApi(auth): XmlApi,
    Path(id): Path<String>,
) -> Response {
    let found = Uuid::parse_str(&id)
        .ok()
        .and_then(|id| Some((id, shared.state().vdc(id).cloned()?)));
    match found {
        Some((id, vdc)) => typed(
            StatusCode::OK,
            owner_xml::VDC_TYPE,
            Some(&auth.version),
            owner_xml::vdc(&shared.base_url, id, &vdc),
        ),
        None => not_found(&id).version(&auth.version).into_response(),
    }
}

/// `GET /api/vApp/{vapp-|vm-}<uuid>/metadata` and `GET /api/media/<uuid>/metadata`.
pub(crate) async fn metadata(
    State(shared): State<Arc<Shared>>,
    XmlApi(auth): XmlApi,
    Path(reference): Path<String>,
) -> Response {
    let id = vapp_reference(&reference)
        .map(|(_, id)| id)
        .or_else(|| Uuid::parse_str(&reference).ok());
    let found = id.and_then(|id| shared.state().owner(id).cloned());
    match found {
        Some(owner) => typed(
            StatusCode::OK,
            owner_xml::METADATA_TYPE,
            Some(&auth.version),
            owner_xml::metadata(&shared.base_url, &owner),
        ),
        None => not_found(&reference).version(&auth.version).into_response(),
    }
}

/// `vapp-<uuid>` or `vm-<uuid>`.
fn vapp_reference(reference: &str) -> Option<(OwnerType, Uuid)> {
    let (kind, id) = reference.split_once('-')?;
    let kind = match kind {
        "vapp" => OwnerType::VApp,
        "vm" => OwnerType::Vm,
        _ => return None,
    };
    Some((kind, Uuid::parse_str(id).ok()?))
}

fn not_found(reference: &str) -> ApiError {
    ApiError::not_found(format!(
        "[ {reference} ] No access to entity {reference:?}."
    ))
}
