<no-such-entry-in-path>
