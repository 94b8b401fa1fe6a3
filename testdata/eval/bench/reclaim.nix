# Benchmark (f): a 1 000 000-element structure made and dropped `n` times in
# one evaluation. Each round's list refers to a function defined in the same
# `let`, which refers back to the list's scope: a reference cycle, which a
# heap that reclaims memory frees between rounds. Judged by how peak memory
# grows from 4 rounds to 16, not by time.
{ n }:
let
  round = i: let
    big = builtins.genList (x: { v = x + i; }) 1000000;
    f = y: builtins.length big + y;
  in f 0 + (builtins.elemAt big 999999).v;
in builtins.foldl' (acc: i: acc + round i) 0 (builtins.genList (i: i) n)
