let c = { __functor = self: n: if n == 0 then self.v else self (n - 1); v = "end"; }; in c 3
