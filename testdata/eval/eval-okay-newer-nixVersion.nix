[ builtins.nixVersion builtins.langVersion ]
