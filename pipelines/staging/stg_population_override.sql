-- Legal populations supplied with `--source population=FILE` (empty table otherwise).
select code_insee, population from raw_population_override
