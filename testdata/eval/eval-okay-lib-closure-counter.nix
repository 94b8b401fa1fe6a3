let mk = n: { val = n; next = mk (n + 1); }; in (mk 0).next.next.next.val
