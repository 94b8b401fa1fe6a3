(({ a = throw "no"; b = 2; }).b)
