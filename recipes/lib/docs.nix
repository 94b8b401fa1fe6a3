# Option documentation: a flat list of visible options, and Markdown made from it.
{ lib }:
let
  inherit (builtins) isAttrs concatMap attrNames sort lessThan;
  inherit (lib.options) isOption showOption showValue;
in
rec {
  # [{ name; type; description; default?; example?; declarations; }] sorted by name,
  # descending into submodules (`users.users.<name>.home`).
  optionsList = options:
    let
      go = opts: concatMap
        (n:
          let o = opts.${n}; in
          # An internal or invisible option hides its sub-options too.
          if isOption o then
            (if (o.internal or false) || !(o.visible or true) then [ ]
            else [ (describe o) ] ++ (if o ? type then go (o.type.getSubOptions o.loc) else [ ]))
          else if isAttrs o then go o
          else [ ])
        (attrNames opts);
      describe = o: {
        name = showOption o.loc;
        type = if o ? type then o.type.description else "unspecified";
        description = o.description or "";
        declarations = o.declarations or [ ];
      }
      // (if o ? defaultText then { default = showValue o.defaultText; }
          else if o ? default then { default = showValue o.default; } else { })
      // (if o ? example then { example = showValue o.example; } else { });
    in
    sort (a: b: lessThan a.name b.name) (go options);

  optionsMarkdown = options: lib.strings.concatMapStrings
    (o: ''
      ## `${o.name}`

      ${o.description}

      *Type:* ${o.type}
    '' + lib.strings.optionalString (o ? default) "\n*Default:* `${o.default}`\n"
    + lib.strings.optionalString (o ? example) "\n*Example:* `${o.example}`\n"
    + "\n")
    (optionsList options);
}
