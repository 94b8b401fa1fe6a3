# Each type's check and merge.
let
  lib = import ../.;
  inherit (lib) mkOption types;
  opt = type: mkOption { inherit type; };
  eval = lib.evalModules { modules = [
    {
      options = {
        e = opt (types.enum [ "a" "b" ]);
        eith = opt (types.either types.int types.str);
        one = opt (types.oneOf [ types.bool types.int types.str ]);
        cs = opt types.commas;
        sep = opt (types.separatedString "|");
        any = opt types.anything;
        fn = opt (types.functionTo (types.listOf types.int));
        co = opt (types.coercedTo types.int toString types.str);
        lazy = opt (types.lazyAttrsOf types.int);
        nul = opt (types.nullOr (types.listOf types.int));
        strs = opt (types.nonEmptyListOf types.nonEmptyStr);
        ms = opt (types.strMatching "[a-z]+");
        ints = opt (types.listOf (types.ints.between 1 3));
        a = opt types.attrs;
        un = opt types.unspecified;
      };
    }
    {
      e = "b"; eith = "s"; one = 3; cs = "x"; sep = "p"; any = { a.b = 1; l = [ 1 ]; };
      fn = x: [ x ]; co = 42; lazy.x = 1; nul = [ 1 ]; strs = [ "a" ]; ms = "abc"; ints = [ 1 2 ];
      a = { p = 1; }; un = [ 1 ];
    }
    {
      cs = "y"; sep = "q"; any = { a.c = 2; l = [ 1 ]; }; fn = x: [ (x * 2) ]; nul = [ 2 ];
      ints = [ 3 ]; a = { q = 2; }; un = [ 2 ]; lazy.y = lib.mkIf false 2;
    }
  ]; };
  c = eval.config;
in
{
  inherit (c) e eith one cs sep any co nul strs ms ints a un;
  fn = c.fn 5;
  lazyNames = builtins.attrNames c.lazy;
  lazyX = c.lazy.x;
  lazyY = (builtins.tryEval c.lazy.y).success;
}
