//! Expressions shown as Nix shows them in assertion messages.

use rnix::ast::{self, InterpolPart};
use rowan::ast::AstNode;

/// Renders an expression the way Nix's `Expr::show` does (used in assertion
/// messages): operators that Nix desugars into builtin calls show as those calls.
pub(super) fn show(e: &ast::Expr) -> String {
    use ast::BinOpKind as K;
    match e {
        ast::Expr::Paren(p) => p.expr().map(|e| show(&e)).unwrap_or_default(),
        ast::Expr::Ident(i) => i.syntax().text().to_string(),
        ast::Expr::Literal(l) => l.syntax().text().to_string(),
        ast::Expr::Str(s) => match static_str(s) {
            Some(t) => {
                let mut out = String::new();
                crate::print::escape_string(&t, &mut out);
                out
            }
            None => s.syntax().text().to_string(),
        },
        ast::Expr::Apply(a) => {
            let mut args = Vec::new();
            let mut cur = ast::Expr::Apply(a.clone());
            while let ast::Expr::Apply(a) = cur {
                let (Some(f), Some(x)) = (a.lambda(), a.argument()) else {
                    return a.syntax().text().to_string();
                };
                args.push(show(&x));
                cur = f;
            }
            args.reverse();
            format!("({} {})", show(&cur), args.join(" "))
        }
        ast::Expr::UnaryOp(u) => {
            let inner = u.expr().map(|e| show(&e)).unwrap_or_default();
            match u.operator() {
                Some(ast::UnaryOpKind::Invert) => format!("(! {inner})"),
                _ => format!("(__sub 0 {inner})"),
            }
        }
        ast::Expr::BinOp(b) => {
            let (Some(l), Some(r), Some(op)) = (b.lhs(), b.rhs(), b.operator()) else {
                return b.syntax().text().to_string();
            };
            let (l, r) = (show(&l), show(&r));
            match op {
                K::Less => format!("(__lessThan {l} {r})"),
                K::More => format!("(__lessThan {r} {l})"),
                K::LessOrEq => format!("(! (__lessThan {r} {l}))"),
                K::MoreOrEq => format!("(! (__lessThan {l} {r}))"),
                K::Sub => format!("(__sub {l} {r})"),
                K::Mul => format!("(__mul {l} {r})"),
                K::Div => format!("(__div {l} {r})"),
                K::Add => format!("({l} + {r})"),
                K::Equal => format!("({l} == {r})"),
                K::NotEqual => format!("({l} != {r})"),
                K::And => format!("({l} && {r})"),
                K::Or => format!("({l} || {r})"),
                K::Implication => format!("({l} -> {r})"),
                K::Update => format!("({l} // {r})"),
                K::Concat => format!("({l} ++ {r})"),
                _ => b.syntax().text().to_string(),
            }
        }
        ast::Expr::Select(sel) => {
            let (Some(e), Some(ap)) = (sel.expr(), sel.attrpath()) else {
                return sel.syntax().text().to_string();
            };
            let mut out = format!("({}).{}", show(&e), show_attrpath(&ap));
            if let Some(d) = sel.default_expr() {
                out.push_str(&format!(" or ({})", show(&d)));
            }
            out
        }
        ast::Expr::HasAttr(h) => match (h.expr(), h.attrpath()) {
            (Some(e), Some(ap)) => format!("(({}) ? {})", show(&e), show_attrpath(&ap)),
            _ => h.syntax().text().to_string(),
        },
        ast::Expr::List(l) => {
            let items: String = l.items().map(|i| format!("({}) ", show(&i))).collect();
            format!("[ {items}]")
        }
        ast::Expr::IfElse(i) => match (i.condition(), i.body(), i.else_body()) {
            (Some(c), Some(t), Some(e)) => {
                format!("(if {} then {} else {})", show(&c), show(&t), show(&e))
            }
            _ => i.syntax().text().to_string(),
        },
        ast::Expr::With(w) => match (w.namespace(), w.body()) {
            (Some(n), Some(b)) => format!("(with {}; {})", show(&n), show(&b)),
            _ => w.syntax().text().to_string(),
        },
        ast::Expr::Assert(a) => match (a.condition(), a.body()) {
            (Some(c), Some(b)) => format!("assert {}; {}", show(&c), show(&b)),
            _ => a.syntax().text().to_string(),
        },
        other => other.syntax().text().to_string(),
    }
}

/// An attribute path as Nix's `showAttrPath`: a name known when parsing as `showId`
/// writes it, a dynamic one as `"${expr}"`.
fn show_attrpath(ap: &ast::Attrpath) -> String {
    let parts: Vec<String> = ap
        .attrs()
        .map(|a| match &a {
            ast::Attr::Ident(i) => show_id(&i.syntax().text().to_string()),
            ast::Attr::Str(s) => match static_str(s) {
                Some(t) => show_id(&t),
                None => format!("\"${{{}}}\"", show(&ast::Expr::Str(s.clone()))),
            },
            ast::Attr::Dynamic(d) => match d.expr() {
                Some(ast::Expr::Str(s)) if static_str(&s).is_some() => {
                    show_id(&static_str(&s).unwrap_or_default())
                }
                Some(e) => format!("\"${{{}}}\"", show(&e)),
                None => d.syntax().text().to_string(),
            },
        })
        .collect();
    parts.join(".")
}

/// A name as Nix's `showId`: as it is if it reads as an identifier, else quoted.
fn show_id(s: &str) -> String {
    let ident_start = |c: char| c.is_ascii_alphabetic() || c == '_';
    let ident = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '\'' | '-');
    if !s.is_empty() && s != "if" && s.starts_with(ident_start) && s.chars().all(ident) {
        s.to_string()
    } else {
        let mut out = String::new();
        crate::print::escape_string(s, &mut out);
        out
    }
}

/// The text of a string literal without interpolation.
pub(super) fn static_str(s: &ast::Str) -> Option<String> {
    let parts = s.normalized_parts();
    let mut out = String::new();
    for p in parts {
        match p {
            InterpolPart::Literal(l) => out.push_str(&l),
            InterpolPart::Interpolation(_) => return None,
        }
    }
    Some(out)
}
