//! The two kinds of guest: a core module or a Component Model component.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
  Module,
  Component,
}

impl ModuleKind {
  pub fn as_str(self) -> &'static str {
    match self {
      ModuleKind::Module => "module",
      ModuleKind::Component => "component",
    }
  }
}
