//! The server's handler: tools from the router, and the project as resources a host can
//! attach to context (`loom://status`, `loom://runs/{id}`, the run's timeline as JSON). Also
//! the reads behind `ledger_row` and `replay`, which are more than one call to the reader.

use crate::args::{LedgerOut, ReplayBrief, ReplayOut};
use crate::{blocking, paths, LoomMcp};
use loom_engine::ErrorKind;
use loom_service::{Reader, ServiceError};
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ListResourceTemplatesResult,
    ListResourcesResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{tool_handler, ErrorData, ServerHandler};
use std::path::Path;

/// Largest part of a ledger row returned whole; a prompt or an output past it is cut.
pub const BLOB_MAX_BYTES: usize = 256 << 10;

const STATUS_URI: &str = "loom://status";
const RUN_PREFIX: &str = "loom://runs/";

fn usage(message: String) -> ServiceError {
    ServiceError {
        kind: ErrorKind::Usage,
        message,
    }
}

/// A stored blob as JSON when it is JSON, else as text; cut at [`BLOB_MAX_BYTES`].
fn decode(bytes: &[u8], truncated: &mut bool) -> serde_json::Value {
    if bytes.len() <= BLOB_MAX_BYTES {
        if let Ok(v) = serde_json::from_slice(bytes) {
            return v;
        }
    }
    serde_json::Value::String(cut(bytes, truncated))
}

fn cut(bytes: &[u8], truncated: &mut bool) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if text.len() > BLOB_MAX_BYTES {
        *truncated = true;
        let mut at = BLOB_MAX_BYTES;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
        text.push_str("\n… (cut at 256 KiB)");
    }
    text
}

/// The first `diff_hash` anywhere in a result (an agent reply that edited the tree).
fn diff_hash(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Object(m) => m
            .get("diff_hash")
            .and_then(|h| h.as_str().map(str::to_owned))
            .or_else(|| m.values().find_map(diff_hash)),
        serde_json::Value::Array(a) => a.iter().find_map(diff_hash),
        _ => None,
    }
}

pub fn ledger_row(
    reader: &Reader,
    run: u64,
    key: &str,
    attempt: u32,
) -> Result<LedgerOut, ServiceError> {
    let row = reader
        .ledger(run)?
        .into_iter()
        .find(|r| r.key == key && r.attempt == attempt)
        .ok_or_else(|| {
            usage(format!(
                "run #{run} has no ledger row {key} attempt {attempt}; `log` lists them"
            ))
        })?;
    let mut truncated = false;
    let mut blob = |h: &Option<String>| -> Result<Option<serde_json::Value>, ServiceError> {
        Ok(match h {
            Some(h) => reader.blob(h)?.map(|b| decode(&b, &mut truncated)),
            None => None,
        })
    };
    let request = blob(&row.request_hash)?;
    let result = reader
        .result(run, key, attempt)?
        .map(|b| decode(&b, &mut truncated));
    let diff = match result.as_ref().and_then(diff_hash) {
        Some(h) => reader.blob(&h)?.map(|b| cut(&b, &mut truncated)),
        None => None,
    };
    // loom's one vocabulary: the metadata is a JSON object, as in `--json` and over HTTP.
    let row = serde_json::to_value(loom_views::LedgerRow::from(&row)).unwrap_or_default();
    Ok(LedgerOut {
        row,
        request,
        result,
        diff,
        truncated,
    })
}

pub fn replay(
    root: &Path,
    run: Option<u64>,
    invariants_path: Option<String>,
) -> Result<ReplayOut, ServiceError> {
    use loom_engine::replay::{replay, ReplayOptions, Runs};
    let invariants = invariants_path
        .map(|p| paths::read_component(root, &p, "invariants component"))
        .transpose()?;
    let config = loom_engine::Config::load(root).map_err(ServiceError::from)?;
    let opts = ReplayOptions {
        invariants,
        config: Some(config),
        root: Some(root.to_path_buf()),
        ..ReplayOptions::default()
    };
    let runs = match run {
        Some(r) => Runs::One(r),
        None => Runs::All { since: None },
    };
    let reports = replay(&loom_engine::project::db_path(root), runs, &opts)?;
    let runs: Vec<ReplayBrief> = reports
        .iter()
        .map(|r| ReplayBrief {
            run: r.run,
            identical: r.identical,
            recorded_ticks: r.recorded_ticks,
            replayed_ticks: r.replayed_ticks,
            divergence: r.divergence.as_ref().map(|d| {
                format!(
                    "differs at tick {} (step {}), in {}: recorded {} replayed {}",
                    d.seq,
                    d.step.as_deref().unwrap_or("-"),
                    d.what,
                    d.recorded,
                    d.replayed
                )
            }),
            firings: r
                .firings
                .iter()
                .map(|f| {
                    format!(
                        "[{}] rule {} would fire first at tick {}: {}",
                        f.source, f.rule, f.seq, f.message
                    )
                })
                .collect(),
        })
        .collect();
    Ok(ReplayOut {
        all_identical: runs.iter().all(|r| r.identical),
        nothing_fired: runs.iter().all(|r| r.firings.is_empty()),
        runs,
    })
}

fn json_contents(uri: &str, v: &impl serde::Serialize) -> Result<ReadResourceResult, ErrorData> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| ErrorData::internal_error(format!("cannot encode {uri}: {e}"), None))?;
    Ok(ReadResourceResult::new(vec![ResourceContents::text(
        text, uri,
    )
    .with_mime_type("application/json")]))
}

fn read_error(e: ServiceError) -> ErrorData {
    match e.kind {
        ErrorKind::Usage => ErrorData::resource_not_found(e.message, None),
        _ => ErrorData::internal_error(e.message, None),
    }
}

/// rmcp turns arguments that do not deserialize into an `isError` result with this prefix;
/// loom answers them as the JSON-RPC error they are (`-32602`), as the CLI refuses bad
/// arguments before doing anything.
const BAD_ARGUMENTS_PREFIX: &str = "failed to deserialize parameters:";

fn bad_arguments(r: &CallToolResult) -> Option<String> {
    if r.is_error != Some(true) || r.structured_content.is_some() {
        return None;
    }
    let text = r.content.first()?.as_text()?;
    text.text
        .starts_with(BAD_ARGUMENTS_PREFIX)
        .then(|| text.text.clone())
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for LoomMcp {
    fn get_info(&self) -> ServerConfig {
        LoomMcp::info()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let call = ToolCallContext::new(self, request, context);
        let response = self.tool_router.call(call).await?;
        if let CallToolResponse::Complete(r) = &response {
            if let Some(message) = bad_arguments(r) {
                return Err(ErrorData::invalid_params(message, None));
            }
        }
        Ok(response)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let reader = self.reader();
        let runs = blocking(move || reader.runs()).await.map_err(read_error)?;
        let mut all = vec![Resource::new(STATUS_URI, "status")
            .with_description("The open task, its run, pending gates, violations (loom status)")
            .with_mime_type("application/json")];
        all.extend(runs.iter().rev().map(|r| {
            Resource::new(format!("{RUN_PREFIX}{}", r.id), format!("run {}", r.id))
                .with_description(format!(
                    "Run #{} (task #{}, {}): its tick timeline with ledger rows",
                    r.id, r.task_id, r.status
                ))
                .with_mime_type("application/json")
        }));
        Ok(ListResourcesResult::with_all_items(all))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("loom://runs/{id}", "run")
                .with_description("A run's tick timeline with its ledger rows, as JSON")
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        let reader = self.reader();
        if uri == STATUS_URI {
            let s = blocking(move || reader.status())
                .await
                .map_err(read_error)?;
            return Ok(json_contents(&uri, &loom_views::Status::from(&s))?.into());
        }
        let id = uri
            .strip_prefix(RUN_PREFIX)
            .and_then(|id| id.parse::<u64>().ok())
            .ok_or_else(|| {
                ErrorData::resource_not_found(
                    format!("no resource {uri}; loom has {STATUS_URI} and {RUN_PREFIX}{{id}}"),
                    None,
                )
            })?;
        let log = blocking(move || reader.log(Some(id)))
            .await
            .map_err(read_error)?;
        let log: Vec<_> = log.iter().map(loom_views::LogEntry::from).collect();
        Ok(json_contents(&uri, &log)?.into())
    }
}
