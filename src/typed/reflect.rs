//! What a guest offers and needs, by name and WIT type: `module.wit` and `module.functions`,
//! and the guest's own imports (those neither WASI nor `probe:runtime` provides), which
//! JavaScript functions must serve.
//!
//! A component's names and types come from its own embedded type information, decoded by
//! wit-component and printed by its `WitPrinter` (so `wit` is real WIT text and named types keep
//! their names). A precompiled component has no source to decode: its functions are described
//! from Wasmtime's types, with types spelled out structurally, and it has no `wit`.

use super::describe_type;
use wasmtime::component::Type;
use wasmtime::component::types::ComponentItem;
use wit_component::{DecodedWasm, WitPrinter};
use wit_parser::{FunctionKind, Resolve, WorldItem, WorldKey};

#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
  pub name: String,
  pub ty: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionInfo {
  /// `name`, or `interface#name` for a function of an exported interface.
  pub name: String,
  pub params: Vec<ParamInfo>,
  pub result: Option<String>,
}

/// An import JavaScript may serve: `module` is the interface (`my:ext/editor@0.1.0`), or for a
/// core module its import module; `$root` for a function a world imports directly.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportInfo {
  pub module: String,
  pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reflection {
  pub wit: Option<String>,
  pub functions: Vec<FunctionInfo>,
  /// Functions the guest imports that only JavaScript can provide.
  pub imports: Vec<ImportInfo>,
}

/// The name a world-level imported function is given in `imports`.
pub const ROOT: &str = "$root";

/// Whether the runtime itself provides imports from `module` (a WIT interface or a core module).
pub fn provided_by_runtime(module: &str) -> bool {
  module.starts_with("wasi:")
    || module.starts_with("probe:runtime/")
    || matches!(module, "wasi_snapshot_preview1" | "wasi_unstable" | "probe")
}

fn type_name(resolve: &Resolve, ty: &wit_parser::Type) -> String {
  let mut printer = WitPrinter::default();
  match printer.print_type_name(resolve, ty) {
    Ok(()) => printer.output.to_string(),
    Err(_) => "?".into(),
  }
}

fn function_info(resolve: &Resolve, name: String, f: &wit_parser::Function) -> FunctionInfo {
  FunctionInfo {
    name,
    params: f
      .params
      .iter()
      .map(|p| ParamInfo {
        name: p.name.clone(),
        ty: type_name(resolve, &p.ty),
      })
      .collect(),
    result: f.result.as_ref().map(|t| type_name(resolve, t)),
  }
}

fn freestanding(f: &wit_parser::Function) -> bool {
  matches!(f.kind, FunctionKind::Freestanding | FunctionKind::AsyncFreestanding)
}

/// Every invokable export, in the world's order.
fn world_functions(resolve: &Resolve, items: &wit_parser::IndexMap<WorldKey, WorldItem>) -> Vec<FunctionInfo> {
  let mut out = Vec::new();
  for (key, item) in items {
    match item {
      WorldItem::Function(f) if freestanding(f) => out.push(function_info(resolve, f.name.clone(), f)),
      WorldItem::Interface { id, .. } => {
        let iface = resolve.name_world_key(key);
        for f in resolve.interfaces[*id].functions.values().filter(|f| freestanding(f)) {
          out.push(function_info(resolve, format!("{iface}#{}", f.name), f));
        }
      }
      _ => {}
    }
  }
  out
}

/// The world as WIT: its own package, with every non-WASI package it uses printed nested
/// (WASI packages are referenced by name, not repeated).
fn world_text(resolve: &Resolve, world: wit_parser::WorldId) -> Option<String> {
  let root = resolve.worlds[world].package?;
  let nested: Vec<_> = resolve
    .packages
    .iter()
    .filter(|(id, p)| *id != root && p.name.namespace != "wasi")
    .map(|(id, _)| id)
    .collect();
  let mut printer = WitPrinter::default();
  printer.print(resolve, root, &nested).ok()?;
  Some(printer.output.to_string())
}

/// A component's reflection from its binary; `None` if its type information cannot be decoded.
pub fn of_component_binary(bytes: &[u8]) -> Option<Reflection> {
  let DecodedWasm::Component(resolve, world) = wit_component::decode(bytes).ok()? else {
    return None;
  };
  let w = &resolve.worlds[world];
  let mut imports = Vec::new();
  for (key, item) in &w.imports {
    match item {
      WorldItem::Function(f) if freestanding(f) => imports.push(ImportInfo {
        module: ROOT.into(),
        name: f.name.clone(),
      }),
      WorldItem::Interface { id, .. } => {
        let module = resolve.name_world_key(key);
        if provided_by_runtime(&module) {
          continue;
        }
        for f in resolve.interfaces[*id].functions.values().filter(|f| freestanding(f)) {
          imports.push(ImportInfo {
            module: module.clone(),
            name: f.name.clone(),
          });
        }
      }
      _ => {}
    }
  }
  Some(Reflection {
    wit: world_text(&resolve, world),
    functions: world_functions(&resolve, &w.exports),
    imports,
  })
}

/// A type spelled out in WIT syntax from Wasmtime's view of it (names of records, variants and
/// the like are not known there).
fn structural(ty: &Type) -> String {
  let list = |items: Vec<String>| items.join(", ");
  match ty {
    Type::Record(r) => format!(
      "record {{ {} }}",
      list(
        r.fields()
          .map(|f| format!("{}: {}", f.name, structural(&f.ty)))
          .collect()
      )
    ),
    Type::Variant(v) => format!(
      "variant {{ {} }}",
      list(
        v.cases()
          .map(|c| match c.ty {
            Some(t) => format!("{}({})", c.name, structural(&t)),
            None => c.name.to_string(),
          })
          .collect()
      )
    ),
    Type::Enum(e) => format!("enum {{ {} }}", list(e.names().map(str::to_string).collect())),
    Type::Flags(f) => format!("flags {{ {} }}", list(f.names().map(str::to_string).collect())),
    Type::List(l) => format!("list<{}>", structural(&l.ty())),
    Type::Option(o) => format!("option<{}>", structural(&o.ty())),
    Type::Tuple(t) => format!("tuple<{}>", list(t.types().map(|t| structural(&t)).collect())),
    Type::Result(r) => match (r.ok(), r.err()) {
      (None, None) => "result".into(),
      (Some(ok), None) => format!("result<{}>", structural(&ok)),
      (None, Some(err)) => format!("result<_, {}>", structural(&err)),
      (Some(ok), Some(err)) => format!("result<{}, {}>", structural(&ok), structural(&err)),
    },
    other => describe_type(other),
  }
}

fn func_info(name: String, f: &wasmtime::component::types::ComponentFunc) -> FunctionInfo {
  FunctionInfo {
    name,
    params: f
      .params()
      .map(|(n, t)| ParamInfo {
        name: n.to_string(),
        ty: structural(&t),
      })
      .collect(),
    result: f.results().next().map(|t| structural(&t)),
  }
}

/// A component's reflection from Wasmtime's types alone (a precompiled component).
pub fn of_component_types(component: &wasmtime::component::Component, engine: &wasmtime::Engine) -> Reflection {
  let ty = component.component_type();
  let mut functions = Vec::new();
  for (name, export) in ty.exports(engine) {
    match export.ty {
      ComponentItem::ComponentFunc(f) => functions.push(func_info(name.to_string(), &f)),
      ComponentItem::ComponentInstance(instance) => {
        for (fname, item) in instance.exports(engine) {
          if let ComponentItem::ComponentFunc(f) = item.ty {
            functions.push(func_info(format!("{name}#{fname}"), &f));
          }
        }
      }
      _ => {}
    }
  }
  let mut imports = Vec::new();
  for (module, import) in ty.imports(engine) {
    match import.ty {
      ComponentItem::ComponentFunc(_) => imports.push(ImportInfo {
        module: ROOT.into(),
        name: module.to_string(),
      }),
      ComponentItem::ComponentInstance(instance) if !provided_by_runtime(module) => {
        for (name, item) in instance.exports(engine) {
          if matches!(item.ty, ComponentItem::ComponentFunc(_)) {
            imports.push(ImportInfo {
              module: module.to_string(),
              name: name.to_string(),
            });
          }
        }
      }
      _ => {}
    }
  }
  Reflection {
    wit: None,
    functions,
    imports,
  }
}

fn numeric(ty: &wasmtime::ValType) -> bool {
  matches!(
    ty,
    wasmtime::ValType::I32 | wasmtime::ValType::I64 | wasmtime::ValType::F32 | wasmtime::ValType::F64
  )
}

/// Whether a core function takes and returns numbers only (what crosses to JavaScript).
pub fn numeric_signature(ty: &wasmtime::FuncType) -> bool {
  ty.params().all(|t| numeric(&t)) && ty.results().all(|t| numeric(&t))
}

/// A core module's reflection: exported functions whose parameters and results are all numbers
/// (parameters named `p0`, `p1`, ...; several results as a tuple), and imports of such functions
/// from modules other than WASI and `probe`.
pub fn of_core(module: &wasmtime::Module) -> Reflection {
  let mut functions = Vec::new();
  for export in module.exports() {
    let wasmtime::ExternType::Func(ty) = export.ty() else {
      continue;
    };
    if !numeric_signature(&ty) {
      continue;
    }
    let results: Vec<String> = ty.results().map(|t| t.to_string()).collect();
    functions.push(FunctionInfo {
      name: export.name().to_string(),
      params: ty
        .params()
        .enumerate()
        .map(|(i, t)| ParamInfo {
          name: format!("p{i}"),
          ty: t.to_string(),
        })
        .collect(),
      result: match results.len() {
        0 => None,
        1 => results.into_iter().next(),
        _ => Some(format!("tuple<{}>", results.join(", "))),
      },
    });
  }
  let imports = module
    .imports()
    .filter(|i| !provided_by_runtime(i.module()))
    .filter(|i| matches!(i.ty(), wasmtime::ExternType::Func(ref ty) if numeric_signature(ty)))
    .map(|i| ImportInfo {
      module: i.module().to_string(),
      name: i.name().to_string(),
    })
    .collect();
  Reflection {
    wit: None,
    functions,
    imports,
  }
}
