# throw takes anything a string can be made of (coerceToString), as abort does.
throw { outPath = "made of outPath"; }
