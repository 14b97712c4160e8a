//! Reading documents out of an upload request: one JSON document, or multipart files. File
//! parts are spooled to unnamed temporary files under `data_dir/spool` as they arrive (the OS
//! removes them when they are closed, even after a crash), so a request of many large files
//! holds one file in memory at a time, not all of them. Sizes are checked as the bytes arrive:
//! `ingest.max_file_bytes` per file, `ingest.max_upload_bytes` per request, 1 MiB per field.

use std::io::SeekFrom;

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::documents::Upload;
use crate::error::{ApiError, Code};
use crate::state::AppState;

/// Largest multipart text field (`metadata`, `external_id`, `title`).
const MAX_FIELD_BYTES: usize = 1 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonDocument {
    external_id: Option<String>,
    title: Option<String>,
    text: String,
    metadata: Option<Map<String, Value>>,
    /// Names the format (`notes.md` → Markdown); plain text when absent.
    file_name: Option<String>,
}

/// A received document: its description, and its bytes in memory (a JSON body) or on disk.
pub struct Received {
    upload: Upload,
    spool: Option<tokio::fs::File>,
    len: u64,
}

impl Received {
    /// Everything but the bytes (`content` is empty while they are spooled).
    pub fn upload(&self) -> &Upload {
        &self.upload
    }

    /// The document's size in bytes.
    pub fn size(&self) -> u64 {
        self.len
    }

    /// The document with its bytes in memory.
    pub async fn load(self) -> Result<Upload, ApiError> {
        let mut upload = self.upload;
        if let Some(mut file) = self.spool {
            upload.content.reserve_exact(self.len as usize);
            file.seek(SeekFrom::Start(0)).await.map_err(spool_error)?;
            file.read_to_end(&mut upload.content)
                .await
                .map_err(spool_error)?;
        }
        Ok(upload)
    }
}

/// The documents in a request: a JSON body (one document) or multipart files. Multipart fields
/// `metadata` (a JSON object) and `external_id` apply to the file part before them; fields
/// before the first file apply to every file.
pub async fn read(
    state: &AppState,
    req: &HttpRequest,
    body: web::Payload,
) -> Result<Vec<Received>, ApiError> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ctype.starts_with("multipart/form-data") {
        return read_multipart(state, Multipart::new(req.headers(), body)).await;
    }
    if !ctype.starts_with("application/json") {
        return Err(ApiError::new(
            Code::InvalidContentType,
            "send multipart/form-data files or an application/json document",
        ));
    }
    let limit = state.config.ingest.max_file_bytes;
    let mut bytes = Vec::new();
    let mut body = body.map(|r| r.map_err(|e| ApiError::invalid("body", e.to_string())));
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        check_size(
            bytes.len() as u64 + chunk.len() as u64,
            limit as u64,
            || format!("the document is larger than ingest.max_file_bytes ({limit} bytes)"),
        )?;
        bytes.extend_from_slice(&chunk);
    }
    let invalid =
        |e: String| ApiError::new(Code::InvalidJson, format!("invalid JSON document: {e}"));
    // A JSON object: serde's derive would take a list too, field by field.
    let doc = match serde_json::from_slice::<Value>(&bytes).map_err(|e| invalid(e.to_string()))? {
        v @ Value::Object(_) => serde_json::from_value::<JsonDocument>(v),
        _ => return Err(invalid("the document must be a JSON object".into())),
    };
    let doc = doc.map_err(|e| invalid(e.to_string()))?;
    if doc.text.trim().is_empty() {
        return Err(ApiError::invalid("text", "text must not be empty"));
    }
    Ok(vec![Received {
        len: doc.text.len() as u64,
        spool: None,
        upload: Upload {
            external_id: doc.external_id,
            title: doc.title,
            file_name: doc.file_name,
            content_type: None,
            metadata: doc.metadata.unwrap_or_default(),
            content: doc.text.into_bytes(),
        },
    }])
}

async fn read_multipart(state: &AppState, mut mp: Multipart) -> Result<Vec<Received>, ApiError> {
    let ingest = &state.config.ingest;
    let spool_dir = state.config.data_dir.join("spool");
    let mut received: Vec<Received> = Vec::new();
    let mut shared = Map::new();
    let mut total = 0u64;
    while let Some(field) = mp.try_next().await.map_err(bad_multipart)? {
        let part = Part::of(&field);
        if !part.is_file() {
            let data = part.read_field(field).await?;
            apply_field(&part.name, data, &mut received, &mut shared)?;
            continue;
        }
        let most = ingest.max_files_per_upload;
        if received.len() == most {
            return Err(ApiError::invalid(
                "file",
                format!("at most {most} files per upload (ingest.max_files_per_upload)"),
            ));
        }
        let (spool, len) = part.spool(field, &spool_dir, state, total).await?;
        total += len;
        received.push(Received {
            upload: Upload {
                file_name: part.file_name,
                content_type: part.content_type,
                metadata: shared.clone(),
                ..Default::default()
            },
            spool: Some(spool),
            len,
        });
    }
    if received.is_empty() {
        return Err(ApiError::invalid("file", "no file part in the upload"));
    }
    Ok(received)
}

fn bad_multipart(e: actix_multipart::MultipartError) -> ApiError {
    ApiError::invalid("body", format!("invalid multipart body: {e}"))
}

fn spool_error(e: std::io::Error) -> ApiError {
    ApiError::internal(anyhow::anyhow!("cannot spool the upload to disk: {e}"))
}

/// 413 with `message` when `size` passes `limit`.
fn check_size(size: u64, limit: u64, message: impl FnOnce() -> String) -> Result<(), ApiError> {
    if size > limit {
        return Err(ApiError::new(Code::PayloadTooLarge, message()));
    }
    Ok(())
}

/// A multipart part's name, file name and content type.
struct Part {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
}

impl Part {
    fn of(field: &actix_multipart::Field) -> Part {
        let cd = field.content_disposition();
        Part {
            name: cd.and_then(|cd| cd.get_name()).unwrap_or("").to_owned(),
            file_name: cd.and_then(|cd| cd.get_filename()).map(str::to_owned),
            content_type: field.content_type().map(|m| m.essence_str().to_owned()),
        }
    }

    fn is_file(&self) -> bool {
        self.file_name.is_some() || self.name == "file" || self.name == "files"
    }

    fn label(&self) -> &str {
        self.file_name.as_deref().unwrap_or(&self.name)
    }

    /// A text field's bytes, up to [`MAX_FIELD_BYTES`].
    async fn read_field(&self, mut field: actix_multipart::Field) -> Result<Vec<u8>, ApiError> {
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(bad_multipart)?;
            check_size(
                (buf.len() + chunk.len()) as u64,
                MAX_FIELD_BYTES as u64,
                || {
                    format!(
                        "field `{}` is larger than {MAX_FIELD_BYTES} bytes",
                        self.name
                    )
                },
            )?;
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    }

    /// A file part, written to an unnamed temporary file as it arrives; `before` bytes of
    /// this request came ahead of it. Returns the file and the part's length.
    async fn spool(
        &self,
        mut field: actix_multipart::Field,
        dir: &std::path::Path,
        state: &AppState,
        before: u64,
    ) -> Result<(tokio::fs::File, u64), ApiError> {
        let (file_limit, upload_limit) = (
            state.config.ingest.max_file_bytes as u64,
            state.config.ingest.max_upload_bytes,
        );
        std::fs::create_dir_all(dir).map_err(spool_error)?;
        let mut file = tokio::fs::File::from_std(tempfile::tempfile_in(dir).map_err(spool_error)?);
        let mut len = 0u64;
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(bad_multipart)?;
            len += chunk.len() as u64;
            check_size(len, file_limit, || {
                format!(
                    "`{}` is larger than ingest.max_file_bytes ({file_limit} bytes)",
                    self.label()
                )
            })?;
            check_size(before + len, upload_limit, || {
                format!("the upload is larger than ingest.max_upload_bytes ({upload_limit} bytes)")
            })?;
            file.write_all(&chunk).await.map_err(spool_error)?;
        }
        file.flush().await.map_err(spool_error)?;
        Ok((file, len))
    }
}

/// A text field: `metadata` for the file before it (or, before any file, for all), or the
/// file's `external_id` or `title`.
fn apply_field(
    name: &str,
    data: Vec<u8>,
    received: &mut [Received],
    shared: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    let text =
        String::from_utf8(data).map_err(|_| ApiError::invalid(name, "must be UTF-8 text"))?;
    let last = received.last_mut().map(|r| &mut r.upload);
    match name {
        "metadata" => {
            let meta: Map<String, Value> = serde_json::from_str(&text).map_err(|e| {
                ApiError::invalid("metadata", format!("metadata must be a JSON object: {e}"))
            })?;
            match last {
                Some(up) => up.metadata.extend(meta),
                None => shared.extend(meta),
            }
        }
        "external_id" | "title" => {
            let up = last.ok_or_else(|| {
                ApiError::invalid(
                    name,
                    format!("`{name}` must follow the file part it belongs to"),
                )
            })?;
            if name == "title" {
                up.title = Some(text)
            } else {
                up.external_id = Some(text)
            }
        }
        other => {
            return Err(ApiError::invalid(
                other,
                format!(
                    "unknown multipart field `{other}`; use file, metadata, external_id, title"
                ),
            ))
        }
    }
    Ok(())
}
