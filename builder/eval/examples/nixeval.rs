//! Debugging aid: `cargo run -p b8g-eval --example nixeval -- [--json|--lazy] (-E EXPR | FILE)`
//! prints like `nix-instantiate --eval --strict`, without a store.

use b8g_eval::{
    run_with_big_stack, value_to_text, EvalOptions, Evaluator, NoStore, OutputMode, StdIo,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = run_with_big_stack(move || {
        let mut mode = OutputMode::Strict;
        let mut expr = None;
        let mut file = None;
        let mut i = 0;
        while i < args.len() {
            match args[i].as_str() {
                "--json" => mode = OutputMode::Json,
                "--lazy" => mode = OutputMode::Lazy,
                "-E" => {
                    i += 1;
                    expr = args.get(i).cloned();
                }
                f => file = Some(f.to_string()),
            }
            i += 1;
        }
        let opts = EvalOptions {
            search_path: b8g_eval::parse_search_path(
                &std::env::var("NIX_PATH").unwrap_or_default(),
            ),
            ..Default::default()
        };
        let mut ev = Evaluator::new(Box::new(StdIo), Box::new(NoStore::default()), opts);
        let cwd = std::env::current_dir()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let r = match (expr, file) {
            (Some(e), _) => ev.eval_str(&e, &cwd),
            (None, Some(f)) => ev.eval_file(&format!("{cwd}/{f}")),
            _ => {
                eprintln!("usage: nixeval [--json|--lazy] (-E EXPR | FILE)");
                return 2;
            }
        };
        match r.and_then(|v| value_to_text(&mut ev, v, mode)) {
            Ok(s) => {
                println!("{s}");
                0
            }
            Err(e) => {
                eprintln!("{e}");
                1
            }
        }
    });
    std::process::exit(code.unwrap_or(3));
}
