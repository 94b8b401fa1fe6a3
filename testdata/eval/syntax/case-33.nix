{ a, b }: a, b
