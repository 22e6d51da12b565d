//! Script modules (`loadScript`): JavaScript source run by the built-in engine. A script module
//! shares the engine's compiled code (loaded like any guest, so compiled once and cached) and
//! carries its source; loading runs the engine's `check` once, so a syntax error or a throw at
//! the top level rejects the load, and the script's exported functions become its `exports`.

use super::*;
use crate::exec::outcome::GuestAnswer;
use crate::host::context::{ScriptCall, ScriptText};

/// The engine's export that calls one of the script's functions.
const ENTRY: &str = "execute";
/// The engine's export that evaluates a script and lists its functions.
const CHECK: &str = "check";

impl Runtime {
  /// Loads `source` as a script module running on the engine at `engine`; `filename` names it in
  /// errors and stack traces, `name` (default: `filename`) is the module's name.
  pub async fn load_script(
    &self,
    engine: PathBuf,
    source: String,
    filename: String,
    name: Option<String>,
  ) -> Result<Arc<LoadedModule>, ProbeError> {
    let engine = self.load(GuestSource::Path(engine), None, Vec::new()).await?;
    let listing = ScriptText {
      source: source.into(),
      filename: filename.clone().into(),
      listing: true,
    };
    let mut info = engine.info.clone();
    info.name = name.unwrap_or(filename);
    info.size = listing.source.len() as u64;
    info.hash = crate::module::source_hash(listing.source.as_bytes());
    info.imports = Vec::new();
    let script = Arc::new(ScriptText {
      listing: false,
      ..listing.clone()
    });
    // The module the check runs on: not counted, gone once the check is done.
    let probe = Arc::new(engine.with_script(info.clone(), Arc::new(listing), Box::new(())));
    let options = ExecOptions {
      export: Some(CHECK.to_string()),
      ..Default::default()
    };
    let outcome = self.execute(self.prepare(probe, "null".into(), options)?).await;
    info.exports = match outcome.result? {
      GuestAnswer::Success(Some(json)) => serde_json::from_str(&json).map_err(|e| {
        ProbeError::new(
          ErrorCode::Host,
          format!("the engine listed the script's functions badly: {e}"),
        )
      })?,
      GuestAnswer::Failure(message) => return Err(ProbeError::invalid_module(message)),
      _ => {
        return Err(ProbeError::new(
          ErrorCode::Host,
          "the engine did not list the script's functions",
        ));
      }
    };
    Ok(Arc::new(engine.with_script(info, script, self.counted())))
  }
}

/// The export to call for `export` of `module`, and, for a script module, the call the engine
/// reads: its export that runs the script's function `export`. Any other module's export is
/// called as it is. Any exported function of a script may be called with JSON input; typed calls
/// (`invoke`) not yet.
pub(super) fn engine_call(
  module: &LoadedModule,
  export: String,
  typed: bool,
) -> Result<(String, Option<ScriptCall>), ProbeError> {
  let Some(text) = &module.script else {
    return Ok((export, None));
  };
  let function = export.as_str();
  let call = |engine_export: &str| {
    let call = ScriptCall {
      text: text.clone(),
      function: function.into(),
    };
    Ok((engine_export.to_string(), Some(call)))
  };
  if text.listing {
    return call(CHECK);
  }
  let functions = &module.info.exports;
  if !functions.iter().any(|f| f == function) {
    return Err(ProbeError::new(
      ErrorCode::NoExport,
      format!(
        "the script exports no function \"{function}\"; its functions: {}",
        if functions.is_empty() {
          "none".to_string()
        } else {
          functions.join(", ")
        }
      ),
    ));
  }
  if typed {
    return Err(ProbeError::new(
      ErrorCode::NoExport,
      format!("a script's functions take JSON input; \"{function}\" cannot be invoked with typed arguments yet"),
    ));
  }
  call(ENTRY)
}
