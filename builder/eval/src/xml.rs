//! Values as XML, as Nix's `printValueAsXML` writes them: `builtins.toXML`
//! (strict, no locations) and `nix-instantiate --eval --xml` (locations; lazy
//! unless `--strict`, where a value not yet evaluated is `<unevaluated />`).

use std::collections::HashSet;

use crate::compile::Param;
use crate::error::{EvalResult, Pos};
use crate::eval::Evaluator;
use crate::value::{Attr, Attrs, Context, Value};

/// The whole document for `v`; string contexts met are added to `ctx`.
pub fn to_xml(
    ev: &mut Evaluator,
    v: Value,
    strict: bool,
    locations: bool,
    ctx: &mut Context,
) -> EvalResult<String> {
    let mut w = Writer {
        out: String::from("<?xml version='1.0' encoding='utf-8'?>\n<expr>\n"),
        strict,
        locations,
        drvs_seen: HashSet::new(),
    };
    let v = ev.force(v)?;
    w.value(ev, v, 2, ctx)?;
    w.out.push_str("</expr>\n");
    Ok(w.out)
}

struct Writer {
    out: String,
    strict: bool,
    locations: bool,
    drvs_seen: HashSet<String>,
}

/// XML attributes, written in name order as Nix's `std::map` does.
type XmlAttrs = Vec<(&'static str, String)>;

impl Writer {
    fn open(&mut self, ind: usize, tag: &str, mut attrs: XmlAttrs, empty: bool) {
        attrs.sort_by(|a, b| a.0.cmp(b.0));
        self.out.push_str(&" ".repeat(ind));
        self.out.push('<');
        self.out.push_str(tag);
        for (k, v) in &attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape(v, &mut self.out);
            self.out.push('"');
        }
        self.out.push_str(if empty { " />\n" } else { ">\n" });
    }

    fn close(&mut self, ind: usize, tag: &str) {
        self.out.push_str(&" ".repeat(ind));
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push_str(">\n");
    }

    fn pos(&self, attrs: &mut XmlAttrs, pos: Pos) {
        if !self.locations {
            return;
        }
        if let Some(lc) = crate::error::nix_pos(pos) {
            attrs.push(("path", lc.file));
            attrs.push(("line", lc.line.to_string()));
            attrs.push(("column", lc.col.to_string()));
        }
    }

    fn leaf(&mut self, ind: usize, tag: &str, value: String) {
        self.open(ind, tag, vec![("value", value)], true);
    }

    fn value(
        &mut self,
        ev: &mut Evaluator,
        v: Value,
        ind: usize,
        ctx: &mut Context,
    ) -> EvalResult<()> {
        let v = if self.strict { ev.force(v)? } else { done(v) };
        match &v {
            Value::Null => self.open(ind, "null", Vec::new(), true),
            Value::Bool(b) => self.leaf(ind, "bool", b.to_string()),
            Value::Int(i) => self.leaf(ind, "int", i.to_string()),
            Value::Float(f) => self.leaf(ind, "float", crate::print::fmt_float(*f)),
            Value::Str(s) => {
                ctx.extend(s.ctx.iter().cloned());
                self.leaf(ind, "string", s.s.clone())
            }
            Value::Path(p) => self.leaf(ind, "path", p.to_string()),
            Value::List(l) => {
                self.open(ind, "list", Vec::new(), false);
                for x in l.iter() {
                    self.value(ev, x.clone(), ind + 2, ctx)?;
                }
                self.close(ind, "list");
            }
            Value::Attrs(a) if ev.is_derivation(a)? => self.derivation(ev, a, ind, ctx)?,
            Value::Attrs(a) => {
                self.open(ind, "attrs", Vec::new(), false);
                self.attrs(ev, a, ind + 2, ctx)?;
                self.close(ind, "attrs");
            }
            Value::Lambda(c) => {
                let mut attrs = Vec::new();
                self.pos(&mut attrs, c.lambda.pos);
                self.open(ind, "function", attrs, false);
                match &c.lambda.param {
                    Param::Ident(name) => {
                        self.open(ind + 2, "varpat", vec![("name", name.to_string())], true)
                    }
                    Param::Pattern {
                        formals,
                        ellipsis,
                        bind_name,
                        ..
                    } => {
                        let mut attrs = Vec::new();
                        if let Some(n) = bind_name {
                            attrs.push(("name", n.to_string()));
                        }
                        if *ellipsis {
                            attrs.push(("ellipsis", "1".to_owned()));
                        }
                        self.open(ind + 2, "attrspat", attrs, false);
                        let mut names: Vec<&str> = formals.iter().map(|(n, _)| &**n).collect();
                        names.sort_unstable();
                        for n in names {
                            self.open(ind + 4, "attr", vec![("name", n.to_owned())], true);
                        }
                        self.close(ind + 2, "attrspat");
                    }
                }
                self.close(ind, "function");
            }
            // Built-in functions are not written (Nix: "FIXME"), nor are
            // values not evaluated yet.
            Value::PrimOp(_) | Value::PrimOpApp(_) | Value::Thunk(_) => {
                self.open(ind, "unevaluated", Vec::new(), true)
            }
        }
        Ok(())
    }

    fn attrs(
        &mut self,
        ev: &mut Evaluator,
        a: &Attrs,
        ind: usize,
        ctx: &mut Context,
    ) -> EvalResult<()> {
        let mut order: Vec<&Attr> = a.iter().collect();
        order.sort_by(|x, y| x.name.cmp(&y.name));
        for at in order {
            let mut attrs = vec![("name", at.name.to_string())];
            if !at.pos.is_none() {
                self.pos(&mut attrs, at.pos);
            }
            self.open(ind, "attr", attrs, false);
            self.value(ev, at.value.clone(), ind + 2, ctx)?;
            self.close(ind, "attr");
        }
        Ok(())
    }

    fn derivation(
        &mut self,
        ev: &mut Evaluator,
        a: &Attrs,
        ind: usize,
        ctx: &mut Context,
    ) -> EvalResult<()> {
        let mut attrs = Vec::new();
        let mut drv_path = String::new();
        for (key, xml_name) in [("drvPath", "drvPath"), ("outPath", "outPath")] {
            if let Some(v) = a.get(key).cloned() {
                let v = if self.strict { ev.force(v)? } else { done(v) };
                if let Value::Str(s) = v {
                    if key == "drvPath" {
                        drv_path = s.s.clone();
                    }
                    attrs.push((xml_name, s.s.clone()));
                }
            }
        }
        self.open(ind, "derivation", attrs, false);
        if !drv_path.is_empty() && self.drvs_seen.insert(drv_path) {
            self.attrs(ev, a, ind + 2, ctx)?;
        } else {
            self.open(ind + 2, "repeated", Vec::new(), true);
        }
        self.close(ind, "derivation");
        Ok(())
    }
}

/// A thunk already evaluated is its value (Nix updates thunks in place).
fn done(v: Value) -> Value {
    if let Value::Thunk(t) = &v {
        if let Some(x) = t.done() {
            return done(x);
        }
    }
    v
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            '\t' => out.push_str("&#x9;"),
            c => out.push(c),
        }
    }
}
