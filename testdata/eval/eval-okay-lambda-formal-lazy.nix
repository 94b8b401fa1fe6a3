({ a }: 1) { a = throw "unused"; }
