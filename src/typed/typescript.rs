//! TypeScript declarations for a component (`wasm-probe types`), with jco's naming and value
//! conventions: types in UpperCamelCase, record fields and flags in lowerCamelCase, s64/u64 as
//! bigint, list<u8> as Uint8Array, variants and nested results as `{ tag, val }`, enums as string
//! unions, option<T> as `T | undefined`. Every interface the world uses (but WASI's) becomes a
//! namespace of its types; `Exports` maps each name `invoke` takes to its signature, and
//! `Imports` is the shape of `LoadOptions.imports`.
//!
//! Written here rather than taken from jco: jco's generator emits bindings for its own
//! transpiled JavaScript (one module per interface), not for names passed to `invoke`.

use super::reflect::provided_by_runtime;
use heck::{ToLowerCamelCase, ToUpperCamelCase};
use std::fmt::Write;
use wit_component::DecodedWasm;
use wit_parser::{
  Function, FunctionKind, Handle, InterfaceId, Resolve, Type, TypeDefKind, TypeOwner, WorldItem, WorldKey,
};

struct Gen<'r> {
  resolve: &'r Resolve,
  /// Interfaces that get a namespace.
  emitted: Vec<InterfaceId>,
}

fn namespace_name(resolve: &Resolve, id: InterfaceId) -> String {
  let iface = &resolve.interfaces[id];
  let name = iface.name.as_deref().unwrap_or("interface");
  match iface.package {
    Some(pkg) => {
      let p = &resolve.packages[pkg].name;
      format!("{}-{}-{}", p.namespace, p.name, name).to_upper_camel_case()
    }
    None => name.to_upper_camel_case(),
  }
}

fn quote(name: &str) -> String {
  format!("'{}'", name.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl Gen<'_> {
  fn ty(&self, ty: &Type) -> String {
    match ty {
      Type::Bool => "boolean".into(),
      Type::U8 | Type::U16 | Type::U32 | Type::S8 | Type::S16 | Type::S32 | Type::F32 | Type::F64 => "number".into(),
      Type::U64 | Type::S64 => "bigint".into(),
      Type::Char | Type::String => "string".into(),
      Type::ErrorContext => "unknown".into(),
      Type::Id(id) => {
        let def = &self.resolve.types[*id];
        match (&def.name, def.owner) {
          (Some(name), TypeOwner::Interface(owner)) if self.emitted.contains(&owner) => {
            format!("{}.{}", namespace_name(self.resolve, owner), name.to_upper_camel_case())
          }
          (Some(name), TypeOwner::Interface(_)) => {
            format!("unknown /* {name}, from an interface not described here */")
          }
          (Some(name), TypeOwner::World(_)) => name.to_upper_camel_case(),
          _ => self.kind(&def.kind),
        }
      }
    }
  }

  /// The TypeScript of a type's structure (for its declaration, or inline when anonymous).
  fn kind(&self, kind: &TypeDefKind) -> String {
    match kind {
      TypeDefKind::Record(r) => {
        let fields: Vec<String> = r
          .fields
          .iter()
          .map(|f| {
            let optional =
              matches!(&f.ty, Type::Id(id) if matches!(self.resolve.types[*id].kind, TypeDefKind::Option(_)));
            format!(
              "{}{}: {}",
              f.name.to_lower_camel_case(),
              if optional { "?" } else { "" },
              self.ty(&f.ty)
            )
          })
          .collect();
        format!("{{ {} }}", fields.join("; "))
      }
      TypeDefKind::Flags(f) => {
        let flags: Vec<String> = f
          .flags
          .iter()
          .map(|f| format!("{}?: boolean", f.name.to_lower_camel_case()))
          .collect();
        format!("{{ {} }}", flags.join("; "))
      }
      TypeDefKind::Tuple(t) => format!(
        "[{}]",
        t.types.iter().map(|t| self.ty(t)).collect::<Vec<_>>().join(", ")
      ),
      TypeDefKind::Variant(v) => v
        .cases
        .iter()
        .map(|c| match &c.ty {
          Some(t) => format!("{{ tag: {}; val: {} }}", quote(&c.name), self.ty(t)),
          None => format!("{{ tag: {} }}", quote(&c.name)),
        })
        .collect::<Vec<_>>()
        .join(" | "),
      TypeDefKind::Enum(e) => e.cases.iter().map(|c| quote(&c.name)).collect::<Vec<_>>().join(" | "),
      TypeDefKind::Option(t) => {
        let nested = matches!(t, Type::Id(id) if matches!(self.resolve.types[*id].kind, TypeDefKind::Option(_)));
        if nested {
          format!("{{ tag: 'none' }} | {{ tag: 'some'; val: {} }}", self.ty(t))
        } else {
          format!("{} | undefined", self.ty(t))
        }
      }
      TypeDefKind::Result(r) => {
        let side = |tag: &str, t: &Option<Type>| match t {
          Some(t) => format!("{{ tag: '{tag}'; val: {} }}", self.ty(t)),
          None => format!("{{ tag: '{tag}' }}"),
        };
        format!("{} | {}", side("ok", &r.ok), side("err", &r.err))
      }
      TypeDefKind::List(Type::U8) => "Uint8Array".into(),
      TypeDefKind::List(t) | TypeDefKind::FixedLengthList(t, _) => format!("Array<{}>", self.ty(t)),
      TypeDefKind::Map(k, v) => format!("Array<[{}, {}]>", self.ty(k), self.ty(v)),
      TypeDefKind::Type(t) => self.ty(t),
      TypeDefKind::Resource | TypeDefKind::Handle(Handle::Own(_) | Handle::Borrow(_)) => {
        "unknown /* a resource handle: not supported by invoke */".into()
      }
      TypeDefKind::Future(_) | TypeDefKind::Stream(_) | TypeDefKind::Unknown => "unknown".into(),
    }
  }

  /// `T` and, for a top-level `result<T, E>`, `E` (what `invoke` rejects with as `payload`).
  fn result(&self, f: &Function) -> (String, Option<String>) {
    match &f.result {
      None => ("void".into(), None),
      Some(Type::Id(id)) => match &self.resolve.types[*id].kind {
        TypeDefKind::Result(r) => (
          r.ok.as_ref().map_or("void".into(), |t| self.ty(t)),
          Some(r.err.as_ref().map_or("undefined".into(), |t| self.ty(t))),
        ),
        _ => (self.ty(&Type::Id(*id)), None),
      },
      Some(t) => (self.ty(t), None),
    }
  }

  fn params(&self, f: &Function) -> String {
    f.params
      .iter()
      .map(|p| format!("{}: {}", p.name.to_lower_camel_case(), self.ty(&p.ty)))
      .collect::<Vec<_>>()
      .join(", ")
  }

  fn namespace(&self, out: &mut String, id: InterfaceId) {
    let iface = &self.resolve.interfaces[id];
    let full = self.resolve.id_of(id).unwrap_or_default();
    let _ = writeln!(
      out,
      "/** Types of {full}. */\nexport namespace {} {{",
      namespace_name(self.resolve, id)
    );
    for (name, ty) in &iface.types {
      let def = &self.resolve.types[*ty];
      let decl = self.kind(&def.kind);
      let name = name.to_upper_camel_case();
      match def.kind {
        TypeDefKind::Record(_) | TypeDefKind::Flags(_) => {
          let _ = writeln!(out, "  export interface {name} {decl}");
        }
        _ => {
          let _ = writeln!(out, "  export type {name} = {decl}");
        }
      }
    }
    out.push_str("}\n\n");
  }
}

fn freestanding(f: &Function) -> bool {
  matches!(f.kind, FunctionKind::Freestanding | FunctionKind::AsyncFreestanding)
}

/// The declarations for `bytes`, a component; `Err` says why there are none.
pub fn declarations(bytes: &[u8], source: &str) -> Result<String, String> {
  // The preamble: magic, then a version whose layer (bytes 6 and 7) is 1 for components.
  match bytes.get(..8) {
    Some([0, b'a', b's', b'm', _, _, 1, 0]) => {}
    Some([0, b'a', b's', b'm', _, _, 0, 0]) => {
      return Err(format!(
        "{source} is a core module; types describes components (their WIT)"
      ));
    }
    _ => return Err(format!("{source} is not a WebAssembly component binary")),
  }
  let decoded = wit_component::decode(bytes).map_err(|e| format!("cannot read the component's WIT: {e:#}"))?;
  let DecodedWasm::Component(resolve, world) = decoded else {
    return Err("this is a WIT package, not a component".into());
  };
  let w = &resolve.worlds[world];
  let interfaces = |items: &wit_parser::IndexMap<WorldKey, WorldItem>| -> Vec<(String, InterfaceId)> {
    items
      .iter()
      .filter_map(|(key, item)| match item {
        WorldItem::Interface { id, .. } => Some((resolve.name_world_key(key), *id)),
        _ => None,
      })
      .collect()
  };
  let (imports, exports) = (interfaces(&w.imports), interfaces(&w.exports));
  let emitted: Vec<InterfaceId> = imports
    .iter()
    .chain(&exports)
    .filter(|(name, _)| !name.starts_with("wasi:"))
    .map(|(_, id)| *id)
    .collect();
  let g = Gen {
    resolve: &resolve,
    emitted,
  };
  let mut out = format!(
    "// TypeScript declarations for {source}, written by `wasm-probe types`. Values follow jco's\n\
     // conventions (see the README's value mapping). Use them with wasm-probe-runtime:\n\
     //   const invoke: Invoke = (name, args) => runtime.invoke(module, name, args) as any\n\
     //   const imports: Imports = {{ ... }}; runtime.loadModule(file, {{ imports }})\n\n"
  );
  for &id in &g.emitted {
    if !resolve.interfaces[id].types.is_empty() {
      g.namespace(&mut out, id);
    }
  }
  for (name, ty) in world_types(w) {
    let _ = writeln!(
      out,
      "export type {} = {}",
      name.to_upper_camel_case(),
      g.kind(&resolve.types[ty].kind)
    );
  }

  out.push_str("/** What `invoke` takes: each function's name, arguments and resolved value. A top-level\n *  `result<T, E>` resolves with T and rejects ERR_WASM_GUEST_ERROR with E as `payload`. */\nexport interface Exports {\n");
  let mut export = |name: String, f: &Function| {
    let (ok, err) = g.result(f);
    if let Some(err) = err {
      let _ = writeln!(
        out,
        "  /** @throws WasmError ERR_WASM_GUEST_ERROR with `payload: {err}` */"
      );
    }
    let _ = writeln!(out, "  {}: ({}) => {ok}", quote(&name), g.params(f));
  };
  for (key, item) in &w.exports {
    match item {
      WorldItem::Function(f) if freestanding(f) => export(f.name.clone(), f),
      WorldItem::Interface { id, .. } => {
        let iface = resolve.name_world_key(key);
        for f in resolve.interfaces[*id].functions.values().filter(|f| freestanding(f)) {
          export(format!("{iface}#{}", f.name), f);
        }
      }
      _ => {}
    }
  }
  out.push_str("}\n\n");

  out.push_str("/** What `LoadOptions.imports` must provide: the guest's own imports (WASI and probe:runtime\n *  come from the runtime). A function may return a Promise; for `result<T, E>` it returns T and\n *  throws for `err` (with E as the thrown value's `payload`). */\nexport type Imports = {\n");
  for (key, item) in &w.imports {
    match item {
      WorldItem::Interface { id, .. } => {
        let module = resolve.name_world_key(key);
        let functions: Vec<&Function> = resolve.interfaces[*id]
          .functions
          .values()
          .filter(|f| freestanding(f))
          .collect();
        if provided_by_runtime(&module) || functions.is_empty() {
          continue;
        }
        let _ = writeln!(out, "  {}: {{", quote(&module));
        for f in functions {
          let (ok, _) = g.result(f);
          let _ = writeln!(out, "    {}: ({}) => {ok} | Promise<{ok}>", quote(&f.name), g.params(f));
        }
        out.push_str("  }\n");
      }
      WorldItem::Function(f) if freestanding(f) => {
        let (ok, _) = g.result(f);
        let _ = writeln!(
          out,
          "  '$root': {{ {}: ({}) => {ok} | Promise<{ok}> }}",
          quote(&f.name),
          g.params(f)
        );
      }
      _ => {}
    }
  }
  out.push_str("}\n\n/** `invoke` with these types: `const invoke: Invoke = (name, args) => runtime.invoke(module, name, args) as any`. */\nexport type Invoke = <K extends keyof Exports>(name: K, args: Parameters<Exports[K]>) => Promise<ReturnType<Exports[K]>>\n");
  Ok(out)
}

/// Types the world itself defines (`type`, `record` ... at world level).
fn world_types(w: &wit_parser::World) -> Vec<(String, wit_parser::TypeId)> {
  w.imports
    .iter()
    .filter_map(|(key, item)| match (key, item) {
      (WorldKey::Name(name), WorldItem::Type { id, .. }) => Some((name.clone(), *id)),
      _ => None,
    })
    .collect()
}
