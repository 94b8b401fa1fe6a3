{ a = { b = throw "nested"; }; }
