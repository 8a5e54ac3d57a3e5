-- EPCI à fiscalité propre (SIREN as text).
select code as code_insee, nom, type as epci_type
from raw_epci
