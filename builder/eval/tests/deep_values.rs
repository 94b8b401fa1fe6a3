//! Freeing a deeply nested value does not recurse down it: a chain of
//! 300 000 sets, lists, closures or partial applications is freed on an
//! ordinary thread's stack, where a drop that recursed overflowed it and
//! aborted the process. (Nix frees such chains; its collector does not
//! recurse.)

mod common;

/// Evaluates `src` on an ordinary thread's stack and returns what it printed.
fn eval_on_small_stack(src: String) -> String {
    common::eval_on_thread(&src, common::SMALL_STACK, || ()).0
}

/// `step` makes the next link from `acc`; the chain is built by `foldl'`
/// (which does not recurse), forced, and dropped.
fn chain(step: &str, start: &str) -> String {
    format!(
        "builtins.seq (builtins.foldl' (acc: _: {step}) {start} (builtins.genList (x: x) 300000)) 1"
    )
}

#[test]
fn a_chain_of_sets_is_freed() {
    assert_eq!(eval_on_small_stack(chain("{ next = acc; }", "{ }")), "1");
}

#[test]
fn a_layered_chain_of_sets_is_freed() {
    // `big // { next = acc; }` keeps `big` as its base and `next` in a layer.
    let src = "let big = builtins.listToAttrs (builtins.genList (i: { name = \"a${toString i}\"; value = i; }) 64);
               in builtins.seq (builtins.foldl' (acc: _: big // { next = acc; }) { } (builtins.genList (x: x) 300000)) 1";
    assert_eq!(eval_on_small_stack(src.to_string()), "1");
}

#[test]
fn a_chain_of_lists_is_freed() {
    assert_eq!(eval_on_small_stack(chain("[ acc ]", "[ ]")), "1");
}

#[test]
fn a_chain_of_closures_is_freed() {
    assert_eq!(eval_on_small_stack(chain("(x: acc)", "null")), "1");
}

#[test]
fn a_chain_of_partial_applications_is_freed() {
    assert_eq!(eval_on_small_stack(chain("builtins.elem acc", "null")), "1");
}

#[test]
fn evaluation_goes_on_after_freeing_deep_chains() {
    // Each round's chain is freed in the middle of the evaluation, with
    // part of it put aside; the rounds after it and their sum are unharmed.
    // (No `let` around the chain: a `let`'s frame hands what it held to the
    // cycle collector, which frees it later and in its own order.)
    let src = "let below = c: (builtins.foldl' (s: _: s.next) c (builtins.genList (x: x) 10)).j;
                   round = i: below (builtins.foldl' (acc: j: { inherit j; next = acc; }) { } (builtins.genList (x: x + i) 300000));
               in builtins.foldl' (a: i: a + round i) 0 (builtins.genList (i: i) 4)";
    // Round i's last set has j = 299999 + i; ten links below it, 299989 + i.
    assert_eq!(
        eval_on_small_stack(src.to_string()),
        (4 * 299_989 + 6).to_string()
    );
}
