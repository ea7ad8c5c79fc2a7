"""The SQL store: schema, engine, exact money, bulk loader and views."""
