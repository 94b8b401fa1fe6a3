//! Evaluates a Nix file as `nix-instantiate --eval --strict` would, with no
//! store, and prints the value: a small driver for profiling the evaluator
//! alone (`perf record -g target/release/examples/eval_strict FILE`).

use b8g_eval::{
    run_with_big_stack, value_to_text, EvalOptions, Evaluator, NoStore, OutputMode, StdIo,
};

fn main() -> std::process::ExitCode {
    let Some(file) = std::env::args().nth(1) else {
        eprintln!("usage: eval_strict FILE.nix");
        return std::process::ExitCode::FAILURE;
    };
    let r = run_with_big_stack(move || {
        let mut ev = Evaluator::new(
            Box::new(StdIo),
            Box::new(NoStore::default()),
            EvalOptions::default(),
        );
        let v = ev.eval_file(&file).map_err(|e| e.to_string())?;
        value_to_text(&mut ev, v, OutputMode::Strict).map_err(|e| e.to_string())
    });
    match r {
        Ok(Ok(text)) => {
            println!("{text}");
            std::process::ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("cannot start the evaluation thread: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
