//! The evaluator frees the reference cycles of `let` and `rec` (which `Rc`
//! alone never frees): a structure made and dropped in a loop keeps memory
//! bounded, and walking often changes no result.

mod common;

use b8g_eval::value::cycles;

/// `reclaim.nix`'s shape, smaller: each round's list refers to a function of
/// the same `let`, which refers back to the list's scope.
fn rounds(n: u32, size: u32) -> String {
    format!(
        "let round = i: let
           big = builtins.genList (x: {{ v = x + i; }}) {size};
           f = y: builtins.length big + y;
         in f 0 + (builtins.elemAt big {last}).v;
         in builtins.foldl' (acc: i: acc + round i) 0 (builtins.genList (i: i) {n})",
        last = size - 1
    )
}

/// Evaluates `src` strictly on a thread of its own, `set` telling when to
/// walk; returns the printed value and that thread's figures.
fn eval_with(src: String, set: impl FnOnce() + Send + 'static) -> (String, cycles::Stats) {
    common::eval_on_thread(&src, b8g_eval::EVAL_STACK_SIZE, set)
}

/// Evaluates `make(4)` and `make(16)` (4 and 16 rounds, each leaving `size`
/// objects or more in a cycle), walking after every `floor` new objects, and
/// checks their results and that the 16 rounds' walks freed at least
/// `freed_rounds` rounds and went through no more than twice what 4 rounds'
/// did: were the rounds kept, the last walk would go through four times as
/// much.
fn four_and_sixteen(
    name: &str,
    make: &dyn Fn(u32) -> String,
    expected: &dyn Fn(u64) -> u64,
    size: u64,
    floor: u64,
    freed_rounds: u64,
) {
    let (four, s4) = eval_with(make(4), move || cycles::set_floor(floor));
    let (sixteen, s16) = eval_with(make(16), move || cycles::set_floor(floor));
    assert_eq!(four, expected(4).to_string(), "{name}");
    assert_eq!(sixteen, expected(16).to_string(), "{name}");
    assert!(s16.walks > s4.walks, "{name}: {s4:?} {s16:?}");
    assert!(s16.freed >= freed_rounds * size, "{name}: {s16:?}");
    assert!(
        s16.peak_walked <= 2 * s4.peak_walked.max(2 * size),
        "{name}: walks grow with the rounds: {s4:?} {s16:?}"
    );
}

/// `rounds`' result: each round adds `size` and the last element's value.
fn rounds_sum(size: u64) -> impl Fn(u64) -> u64 {
    move |n| n * size + n * (n - 1) / 2 + n * (size - 1)
}

#[test]
fn garbage_cycles_do_not_accumulate() {
    let size = 20_000;
    let make = |n| rounds(n, size as u32);
    four_and_sixteen("reclaim", &make, &rounds_sum(size), size, 10_000, 15);
}

/// Issue 15's memory test at full size: a 1 000 000-element structure made
/// and dropped in a loop (`reclaim.nix`'s shape), walking after a million.
#[test]
fn a_million_element_structure_dropped_in_a_loop_stays_bounded() {
    let size = 1_000_000;
    let make = |n| rounds(n, size as u32);
    four_and_sixteen("reclaim", &make, &rounds_sum(size), size, 1_000_000, 12);
}

/// The cycles left when the `let` that made them is gone: a fixpoint
/// (`self` is an ordinary argument; the `let` frame drops out once `x` is
/// forced), and a list whose elements refer to it.
#[test]
fn cycles_that_outlive_their_let_are_freed() {
    let size = 20_000u64;
    let fix = |n: u32| {
        format!(
            "let fix = f: let x = f x; in x;
               round = i: (fix (self: {{ xs = builtins.genList (k: {{ n = k + i; s = self; }}) {size}; }})).xs;
               sum = l: builtins.foldl' (a: e: a + e.n) 0 l;
             in builtins.foldl' (acc: i: acc + sum (round i)) 0 (builtins.genList (i: i) {n})"
        )
    };
    let own_list = |n: u32| {
        format!(
            "let round = i: let xs = builtins.genList (k: {{ s = xs; v = k + i; }}) {size};
                            in builtins.foldl' (a: e: a + e.v) 0 xs;
             in builtins.foldl' (acc: i: acc + round i) 0 (builtins.genList (i: i) {n})"
        )
    };
    let expected = |n: u64| n * size * (size - 1) / 2 + size * n * (n - 1) / 2;
    four_and_sixteen("fix", &fix, &expected, size, 10_000, 14);
    four_and_sixteen("own list", &own_list, &expected, size, 10_000, 14);
}

/// A long chain freed by a walk is freed one object at a time, not by a
/// drop that recurses down the chain (which overflowed the stack).
#[test]
fn freeing_a_long_cycle_does_not_recurse() {
    let src = "let round = i: let c = builtins.foldl' (acc: j: { next = acc; }) { back = c; }
                                   (builtins.genList (x: x) 300000);
                               in builtins.seq c i;
               in builtins.foldl' (a: i: a + round i) 0 (builtins.genList (i: i) 3)";
    // An ordinary thread's stack: dropping 300 000 nested sets recursively
    // needs several times more.
    let out = common::eval_on_thread(src, common::SMALL_STACK, || cycles::set_floor(100_000));
    assert_eq!(out.0, "3");
    assert!(out.1.freed >= 300_000, "{:?}", out.1);
}

#[test]
fn walking_after_every_few_thunks_changes_no_result() {
    // Values shared between live and dead parts, rec sets, defaults that
    // refer to other formals, lazily mapped lists and sets.
    let src = r#"
      let
        lib = rec {
          fix = f: let x = f x; in x;
          extend = f: g: self: let s = f self; in s // g self s;
        };
        base = self: { a = 1; b = self.a + 1; xs = map (x: x * self.b) [ 1 2 3 ]; };
        over = self: super: { a = super.a + 10; c = rec { d = self.b; e = d + 1; }; };
        fixed = lib.fix (lib.extend base over);
        pat = { p ? q + 1, q ? 5, ... }@args: p + q + builtins.length (builtins.attrNames args);
        mapped = builtins.mapAttrs (n: v: v + 1) { x = 1; y = 2; };
        many = builtins.genList (i: let j = i * 2; g = k: j + k; in g 1) 500;
      in {
        inherit (fixed) a b xs c;
        p = pat { };
        q = pat { q = 1; r = 2; };
        inherit mapped;
        total = builtins.foldl' (a: b: a + b) 0 many;
      }
    "#;
    let (often, s) = eval_with(src.to_string(), || cycles::walk_every(16));
    let (never, _) = eval_with(src.to_string(), || cycles::set_floor(u64::MAX));
    assert!(s.walks > 10, "{s:?}");
    assert_eq!(often, never);
    assert!(often.contains("total = 250000;"), "{often}");
}
