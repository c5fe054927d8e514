#!/usr/bin/env python3
"""The corpus of bench/store: synthetic FHIR R4 resources of realistic shape.

    bench/store_corpus.py OUT.ndjson [--patients N] [--seed S]

Writes NDJSON (one FHIR R4 JSON resource per line, UTF-8) to OUT.ndjson:
per patient 1 Patient, 2 Encounters and 7 Observations, 10 resources, so the
default of 100,000 patients gives 1,000,000 resources (about 1 GB).

Order: every Patient, then every Encounter, then every Observation (as a bulk
export's per-type files would be concatenated): a resource comes after the
resources it references. Ids: Patient "pat-000001", Encounter
"enc-000001-1" (patient, encounter), Observation "obs-000001-3" (patient,
observation 1..7); digits widen beyond 999,999 patients.

Deterministic: the same N and seed give the same bytes with any python3. Each
patient has its own generator, seeded with the text "SEED/INDEX" (string seeds
hash with SHA-512, stable since Python 3.2), and only random() is drawn from it
(its Mersenne Twister output is fixed; randint/choice have changed between
versions). Standard library only.

What the resources hold (the elements a server indexes and searches on):
- Patient: MRN identifier, official name (family, one or two given names from
  lists of a few hundred, accented ones included), gender, birthDate, home
  address (line, city, state, postalCode, country in the US, Germany, France,
  Spain, Italy, the UK or Brazil), telecom (phone, email), maritalStatus,
  managingOrganization.
- Encounter: finished, class (v3-ActCode AMB/IMP/EMER), SNOMED CT type and
  reasonCode, subject, period with the patient's zone offset, serviceProvider.
- Observation: final, category vital-signs or laboratory, a LOINC code (one of
  42, with matching UCUM unit and a plausible value range; some with a second
  LOINC coding), subject, encounter, effectiveDateTime inside the encounter
  (2015-2025), issued, valueQuantity; blood-pressure panels (85354-9) carry
  systolic/diastolic components instead; labs often have a referenceRange and
  an interpretation (v3-ObservationInterpretation) computed from it.
"""

import argparse
import datetime
import json
import os
import random
import sys
import unicodedata

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
MRN_SYSTEM = "http://hospital.example.org/fhir/sid/mrn"

FAMILY = """
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark
Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams
Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker
Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper
Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James
Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster
Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer
Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Schmitt
Werner Schmitz Krause Meier Lehmann Schmid Schulze Maier Köhler Herrmann König Walter Mayer Huber
Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn Vogel Friedrich Keller Günther Frank Berger
Martín García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Jiménez Ruíz
Hernández Díaz Moreno Muñoz Álvarez Romero Alonso Gutiérrez Navarro Domínguez Vázquez Ramírez
Bernard Dubois Durand Lefèvre Leroy Moreau Simon Laurent Michel Lefebvre Fontaine Chevalier Rousseau
Garnier Faure André Mercier Blanc Guérin Boyer Lemaître Bérenger Gauthier Ménard Hébert Brûlé
Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti De Luca
Costa Giordano Mancini Rizzo Lombardi Moretti Silva Santos Oliveira Souza Lima Pereira
Ferreira Alves Rodrigues Gonçalves Araújo Ribeiro Carvalho Gomes Martins Rocha Conceição Almeida
Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Dvořák Novák Svoboda
Černý Procházka Kučera Nielsen Jensen Hansen Pedersen Andersen Sørensen Jørgensen Larsen Ødegård
Johansson Andersson Karlsson Nilsson Eriksson Larsson Öberg Åkesson Ó Briain O'Connor Byrne Kennedy
""".split()

GIVEN_FEMALE = """
Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty Margaret
Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa Deborah Stephanie Rebecca
Sharon Laura Cynthia Kathleen Amy Angela Shirley Anna Brenda Pamela Emma Nicole Helen Samantha
Katherine Christine Debra Rachel Carolyn Janet Catherine Maria Heather Diane Ruth Julie Olivia Joyce
Virginia Victoria Kelly Lauren Christina Joan Evelyn Judith Megan Andrea Cheryl Hannah Jacqueline
Ursula Gisela Brigitte Renate Ingrid Monika Sabine Petra Birgit Jördis Käthe Anneliese
Sophie Chloé Léa Manon Camille Inès Zoé Louise Élodie Amélie Hélène Céline Noémie Maëlle Anaïs
María Lucía Sofía Martina Julia Paula Valentina Daniela Alba Ángela Inés Begoña Nuria Pilar Mónica
Giulia Francesca Chiara Alessia Beatrice Giorgia Aurora Ludovica Benedetta Gaia Ana Beatriz Júlia
Letícia Conceição Fátima Zuzana Kateřina Agnieszka Małgorzata Ewa Åsa Björk Sigrún Siobhán
Aoife Niamh Saoirse Mei Yuki Priya Aisha Fatima Zainab Amara Leilani Ximena Renée Zoë Mélanie
""".split()

GIVEN_MALE = """
James Robert John Michael David William Richard Joseph Thomas Charles Christopher Daniel Matthew
Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward
Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin
Samuel Gregory Alexander Frank Patrick Raymond Jack Dennis Jerry Tyler Aaron Henry Adam Peter
Hans Jürgen Klaus Günter Dieter Wolfgang Jörg Uwe Björn Sören Lukas Maximilian Felix Jonas Niklas
Hélio Jérôme François Léon Théo Noé Raphaël Gaël Loïc Benoît Étienne Cédric Aurélien Mathéo
José Jesús Andrés Álvaro Adrián Martín Rubén Sergio Iñaki Ramón Joaquín Óscar Íñigo Nicolás
Giuseppe Giovanni Francesco Luca Matteo Lorenzo Niccolò Andrea Davide Federico João Antônio Luís
Sebastião Gonçalo Tomáš Jiří Łukasz Paweł Stanisław Søren Ørjan Åke Göran Seán Ciarán Pádraig
Hiroshi Kenji Arjun Rahul Omar Yusuf Kwame Chidi Mateo Santiago Thiago Zoltán Ferenc
""".split()

COUNTRIES = [
    # country, weight, zone offsets (winter, summer), phone prefix, email domain,
    # [(city, state, postal prefix)], streets, house number before the street
    ("US", 40, ("-05:00", "-04:00"), "+1 555 ", "example.com",
     [("Boston", "MA", "021"), ("Springfield", "IL", "627"), ("Austin", "TX", "787"),
      ("Denver", "CO", "802"), ("Seattle", "WA", "981"), ("Atlanta", "GA", "303"),
      ("Portland", "OR", "972"), ("Madison", "WI", "537"), ("Phoenix", "AZ", "850"),
      ("Columbus", "OH", "432"), ("Raleigh", "NC", "276"), ("San José", "CA", "951")],
     ["Main Street", "Oak Avenue", "Maple Drive", "Cedar Lane", "Pine Street", "Elm Street",
      "Washington Boulevard", "Lake Road", "Hill Street", "Park Avenue", "Church Street",
      "Sunset Boulevard", "Highland Avenue", "River Road"], True),
    ("DE", 15, ("+01:00", "+02:00"), "+49 30 ", "example.de",
     [("Berlin", "BE", "10"), ("München", "BY", "80"), ("Köln", "NW", "50"),
      ("Düsseldorf", "NW", "40"), ("Nürnberg", "BY", "90"), ("Lübeck", "SH", "23"),
      ("Göttingen", "NI", "37"), ("Würzburg", "BY", "97")],
     ["Hauptstraße", "Bahnhofstraße", "Schulstraße", "Gartenweg", "Lindenallee", "Dorfstraße",
      "Königsallee", "Mühlenweg", "Schloßstraße", "Goethestraße"], False),
    ("FR", 12, ("+01:00", "+02:00"), "+33 1 ", "example.fr",
     [("Paris", "IDF", "750"), ("Lyon", "ARA", "690"), ("Orléans", "CVL", "450"),
      ("Besançon", "BFC", "250"), ("Nîmes", "OCC", "300"), ("Saint-Étienne", "ARA", "420")],
     ["rue de la Paix", "rue Victor Hugo", "avenue des Champs-Élysées", "boulevard Saint-Michel",
      "rue du Général-de-Gaulle", "place de l'Église", "rue Pasteur"], True),
    ("ES", 12, ("+01:00", "+02:00"), "+34 91 ", "example.es",
     [("Madrid", "M", "280"), ("Barcelona", "B", "080"), ("Málaga", "MA", "290"),
      ("Córdoba", "CO", "140"), ("León", "LE", "240"), ("Cádiz", "CA", "110")],
     ["Calle Mayor", "Avenida de la Constitución", "Calle de Alcalá", "Gran Vía",
      "Paseo de Gracia", "Plaza de España", "Calle Real"], False),
    ("IT", 8, ("+01:00", "+02:00"), "+39 06 ", "example.it",
     [("Roma", "RM", "001"), ("Milano", "MI", "201"), ("Torino", "TO", "101"),
      ("Forlì", "FC", "471"), ("Cantù", "CO", "228")],
     ["Via Roma", "Corso Italia", "Via Garibaldi", "Via Dante", "Piazza del Popolo"], False),
    ("GB", 8, ("+00:00", "+01:00"), "+44 20 ", "example.co.uk",
     [("London", "ENG", "SW1"), ("Manchester", "ENG", "M1"), ("Leeds", "ENG", "LS1"),
      ("Edinburgh", "SCT", "EH1"), ("Cardiff", "WLS", "CF1")],
     ["High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane", "Mill Lane"], True),
    ("BR", 5, ("-03:00", "-03:00"), "+55 11 ", "example.com.br",
     [("São Paulo", "SP", "01"), ("Brasília", "DF", "70"), ("Belém", "PA", "66"),
      ("Florianópolis", "SC", "88"), ("Maceió", "AL", "57")],
     ["Rua Augusta", "Avenida Paulista", "Rua das Flores", "Rua São João", "Avenida Atlântica"], False),
]
COUNTRY_WEIGHT = sum(c[1] for c in COUNTRIES)

NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
MARITAL_STATUS = [  # system, code, display, weight (R4 value set marital-status)
    (MARITAL, "M", "Married", 45), (MARITAL, "S", "Never Married", 30), (MARITAL, "D", "Divorced", 12),
    (MARITAL, "W", "Widowed", 8), (MARITAL, "U", "unmarried", 3), (NULL_FLAVOR, "UNK", "unknown", 2),
]
ORGANIZATIONS = [("org-0001", "Hearth General Hospital"), ("org-0002", "St. Mary's Medical Center"),
                 ("org-0003", "Klinikum Süd"), ("org-0004", "Hôpital Saint-Louis"),
                 ("org-0005", "Hospital Universitario La Paz"), ("org-0006", "Riverside Family Practice")]

ENCOUNTER_CLASS = [  # code, display, weight, hours (min, max)
    ("AMB", "ambulatory", 70, (0.25, 1.5)),
    ("EMER", "emergency", 15, (1.0, 8.0)),
    ("IMP", "inpatient encounter", 15, (24.0, 240.0)),
]
ENCOUNTER_TYPE = {  # by class: SNOMED CT code, display
    "AMB": [("185349003", "Encounter for check up (procedure)"), ("390906007", "Follow-up encounter (procedure)"),
            ("185345009", "Encounter for symptom (procedure)"), ("11429006", "Consultation (procedure)"),
            ("439740005", "Postoperative follow-up visit (procedure)")],
    "EMER": [("50849002", "Emergency room admission (procedure)"),
             ("183452005", "Emergency hospital admission (procedure)")],
    "IMP": [("32485007", "Hospital admission (procedure)"), ("305408004", "Admission to surgical department (procedure)")],
}
REASON = [  # SNOMED CT code, display
    ("44054006", "Diabetes mellitus type 2 (disorder)"), ("38341003", "Hypertensive disorder, systemic arterial (disorder)"),
    ("195662009", "Acute viral pharyngitis (disorder)"), ("10509002", "Acute bronchitis (disorder)"),
    ("55822004", "Hyperlipidemia (disorder)"), ("271737000", "Anemia (disorder)"),
    ("40055000", "Chronic sinusitis (disorder)"), ("233604007", "Pneumonia (disorder)"),
    ("162864005", "Body mass index 30+ - obesity (finding)"), ("267036007", "Dyspnea (finding)"),
    ("29857009", "Chest pain (finding)"), ("25064002", "Headache (finding)"),
    ("68566005", "Urinary tract infectious disease (disorder)"), ("49727002", "Cough (finding)"),
    ("431855005", "Chronic kidney disease stage 1 (disorder)"), ("84114007", "Heart failure (disorder)"),
]

# LOINC code, display, UCUM code, unit as displayed, value range, decimals,
# reference range (low, high) or None, extra LOINC codings.
VITALS = [
    ("8867-4", "Heart rate", "/min", "beats/minute", (48, 125), 0, (60, 100), []),
    ("9279-1", "Respiratory rate", "/min", "breaths/minute", (10, 26), 0, (12, 20), []),
    ("8310-5", "Body temperature", "Cel", "°C", (35.8, 39.4), 1, (36.1, 37.5), []),
    ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", "%", (88, 100), 0, (95, 100),
     [("2708-6", "Oxygen saturation in Arterial blood")]),
    ("8302-2", "Body height", "cm", "cm", (148, 198), 1, None, []),
    ("29463-7", "Body weight", "kg", "kg", (45, 130), 1, None, [("3141-9", "Body weight Measured")]),
    ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "kg/m2", (17.5, 42), 1, (18.5, 25), []),
    ("8480-6", "Systolic blood pressure", "mm[Hg]", "mmHg", (92, 178), 0, (90, 130), []),
    ("8462-4", "Diastolic blood pressure", "mm[Hg]", "mmHg", (55, 108), 0, (60, 80), []),
    ("8478-0", "Mean blood pressure", "mm[Hg]", "mmHg", (68, 115), 0, (70, 105), []),
    ("9843-4", "Head Occipital-frontal circumference", "cm", "cm", (52, 60), 1, None, []),
]
LABS = [
    ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", "mg/dL", (62, 240), 0, (70, 99), []),
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", (65, 220), 0, (70, 99), []),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", "g/dL", (9.0, 18.0), 1, (12.0, 17.5), []),
    ("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "%", "%", (30, 54), 1, (36, 50), []),
    ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", "10^3/µL", (2.8, 15.5), 1,
     (4.0, 10.5), []),
    ("789-8", "Erythrocytes [#/volume] in Blood by Automated count", "10*6/uL", "10^6/µL", (3.5, 6.2), 2,
     (4.2, 5.9), []),
    ("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", "10^3/µL", (110, 480), 0,
     (150, 400), []),
    ("787-2", "MCV [Entitic volume] by Automated count", "fL", "fL", (74, 104), 1, (80, 100), []),
    ("785-6", "MCH [Entitic mass] by Automated count", "pg", "pg", (24, 36), 1, (27, 33), []),
    ("786-4", "MCHC [Mass/volume] by Automated count", "g/dL", "g/dL", (30, 37), 1, (32, 36), []),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", (128, 150), 0, (136, 145), []),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", (3.0, 5.9), 1, (3.5, 5.1), []),
    ("2075-0", "Chloride [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", (94, 112), 0, (98, 107), []),
    ("2028-9", "Carbon dioxide, total [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", (18, 33), 0,
     (22, 29), []),
    ("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", (5, 40), 0, (7, 20), []),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", (0.45, 2.2), 2, (0.6, 1.3),
     [("38483-4", "Creatinine [Mass/volume] in Blood")]),
    ("17861-6", "Calcium [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", (8.0, 11.0), 1, (8.6, 10.3), []),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", (130, 300), 0, (0, 200), []),
    ("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", (45, 400), 0, (0, 150), []),
    ("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", (28, 95), 0, (40, 200), []),
    ("18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "mg/dL", "mg/dL",
     (55, 210), 0, (0, 130), []),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", "%", (4.3, 11.5), 1, (4.0, 5.6), []),
    ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", "U/L",
     (6, 90), 0, (7, 56), []),
    ("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", "U/L",
     (8, 80), 0, (10, 40), []),
    ("6768-6", "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma", "U/L", "U/L",
     (35, 180), 0, (44, 147), []),
    ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", (0.1, 2.4), 1, (0.1, 1.2), []),
    ("2885-2", "Protein [Mass/volume] in Serum or Plasma", "g/dL", "g/dL", (5.5, 8.8), 1, (6.0, 8.3), []),
    ("1751-7", "Albumin [Mass/volume] in Serum or Plasma", "g/dL", "g/dL", (2.8, 5.5), 1, (3.5, 5.0), []),
    ("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "m[IU]/L", "mIU/L", (0.1, 8.5), 2,
     (0.4, 4.0), []),
    ("33914-3", "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or Plasma by "
     "Creatinine-based formula (MDRD)", "mL/min/{1.73_m2}", "mL/min/1.73m2", (35, 125), 0, (60, 200), []),
]
# Blood-pressure panels: 85354-9 with systolic and diastolic components.
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
BP_SHARE = 0.08  # of vital-signs observations

INTERPRETATION_DISPLAY = {"L": "Low", "N": "Normal", "H": "High"}


class Rng:
    """A seeded generator drawing only random() (stable across python3 versions)."""

    def __init__(self, seed):
        self.r = random.Random(seed)

    def unit(self):
        return self.r.random()

    def below(self, n):
        return min(int(self.r.random() * n), n - 1)

    def pick(self, seq):
        return seq[self.below(len(seq))]

    def weighted(self, seq, weight_of, total):
        x = self.r.random() * total
        for item in seq:
            x -= weight_of(item)
            if x < 0:
                return item
        return seq[-1]

    def between(self, lo, hi):
        return lo + (hi - lo) * self.r.random()


def quantity_value(x, decimals):
    """A JSON number with a fixed number of decimals (FHIR keeps the precision)."""
    return int(round(x)) if decimals == 0 else round(x, decimals)


def zone_of(country, when):
    """The patient's UTC offset on `when` (summer time roughly April to October)."""
    winter, summer = country[2]
    return summer if 4 <= when.month <= 10 else winter


def stamp(when, zone, seconds=True, millis=False):
    """An R4 dateTime/instant with a zone offset: 2019-03-04T10:22:00+01:00."""
    text = when.strftime("%Y-%m-%dT%H:%M:%S" if seconds else "%Y-%m-%dT%H:%M")
    if not seconds:
        text += ":00"
    if millis:
        text += ".%03d" % (when.microsecond // 1000)
    return text + zone


# Letters NFKD does not decompose to ASCII.
FOLD_EXTRA = {"ß": "ss", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "æ": "ae", "Æ": "AE", "đ": "d", "'": "", " ": ""}


def ascii_fold(text):
    """An email-safe ASCII form of a name: Müller -> Muller, Søren -> Soren."""
    text = "".join(FOLD_EXTRA.get(c, c) for c in text)
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii())


def coding(system, code, display):
    return {"system": system, "code": code, "display": display}


EPOCH_2015 = datetime.datetime(2015, 1, 1)
SPAN_2015_2025 = (datetime.datetime(2025, 12, 31) - EPOCH_2015).total_seconds()


def make_patient(rng, n, pid):
    country = rng.weighted(COUNTRIES, lambda c: c[1], COUNTRY_WEIGHT)
    female = rng.unit() < 0.51
    given_list = GIVEN_FEMALE if female else GIVEN_MALE
    given = [rng.pick(given_list)]
    if rng.unit() < 0.35:
        second = rng.pick(given_list)
        if second != given[0]:
            given.append(second)
    family = rng.pick(FAMILY)
    if country[0] == "ES" and rng.unit() < 0.6:
        family += " " + rng.pick(FAMILY)  # two surnames
    gender = "female" if female else "male"
    if rng.unit() < 0.004:
        gender = rng.pick(["other", "unknown"])
    birth = datetime.date(1930, 1, 1) + datetime.timedelta(days=rng.below(365 * 93))
    city, state, postal_prefix = rng.pick(country[5])
    number = str(1 + rng.below(240))
    street = rng.pick(country[6])
    line = [number + " " + street if country[7] else street + " " + number]
    if rng.unit() < 0.12:
        line.append(("Apt " if country[0] in ("US", "GB") else "") + str(1 + rng.below(40)))
    postal = postal_prefix + "".join(str(rng.below(10)) for _ in range(5 - len(postal_prefix)))
    if country[0] == "GB":
        postal = postal_prefix + " " + str(rng.below(10)) + rng.pick("ABDEFGHJLNPQRSTUWXYZ") + rng.pick("ABDEFGHJLNPQRSTUWXYZ")
    phone = country[3] + "%03d %04d" % (rng.below(1000), rng.below(10000))
    email_local = ascii_fold(given[0] + "." + family.split()[0]).lower()
    marital = rng.weighted(MARITAL_STATUS, lambda m: m[3], sum(m[3] for m in MARITAL_STATUS))
    org_id, org_name = rng.pick(ORGANIZATIONS)
    patient = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{
            "use": "usual",
            "type": {"coding": [coding(V2_0203, "MR", "Medical record number")], "text": "MRN"},
            "system": MRN_SYSTEM,
            "value": "MRN%08d" % (n * 7919 % 100000000),
        }],
        "active": True,
        "name": [{"use": "official", "family": family, "given": given}],
        "telecom": [
            {"system": "phone", "value": phone, "use": rng.pick(["home", "mobile", "work"])},
            {"system": "email", "value": "%s%d@%s" % (email_local, n % 1000, country[4]), "use": "home"},
        ],
        "gender": gender,
        "birthDate": birth.isoformat(),
        "address": [{
            "use": "home",
            "type": "both",
            "line": line,
            "city": city,
            "state": state,
            "postalCode": postal,
            "country": country[0],
        }],
        "maritalStatus": {"coding": [coding(*marital[:3])], "text": marital[2]},
        "managingOrganization": {"reference": "Organization/" + org_id, "display": org_name},
    }
    if rng.unit() < 0.03:
        patient["deceasedBoolean"] = False
    return patient, country, org_id


def make_encounter(rng, eid, pid, country, org_id):
    cls = rng.weighted(ENCOUNTER_CLASS, lambda c: c[2], sum(c[2] for c in ENCOUNTER_CLASS))
    etype = rng.pick(ENCOUNTER_TYPE[cls[0]])
    reason = rng.pick(REASON)
    start = EPOCH_2015 + datetime.timedelta(seconds=int(rng.unit() * SPAN_2015_2025))
    start = start.replace(hour=7 + rng.below(12), minute=rng.below(12) * 5, second=0)
    end = start + datetime.timedelta(minutes=int(rng.between(*cls[3]) * 60))
    zone = zone_of(country, start)
    encounter = {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"system": ACT_CODE, "code": cls[0], "display": cls[1]},
        "type": [{"coding": [coding(SNOMED, etype[0], etype[1])], "text": etype[1].rsplit(" (", 1)[0]}],
        "subject": {"reference": "Patient/" + pid},
        "period": {"start": stamp(start, zone), "end": stamp(end, zone)},
        "reasonCode": [{"coding": [coding(SNOMED, reason[0], reason[1])], "text": reason[1].rsplit(" (", 1)[0]}],
        "serviceProvider": {"reference": "Organization/" + org_id},
    }
    return encounter, start, end, zone


def code_concept(entry):
    codings = [coding(LOINC, entry[0], entry[1])]
    for extra_code, extra_display in entry[7]:
        codings.append(coding(LOINC, extra_code, extra_display))
    return {"coding": codings, "text": entry[1]}


def quantity(entry, value):
    return {"value": value, "unit": entry[3], "system": UCUM, "code": entry[2]}


def interpretation(value, ref):
    code = "L" if value < ref[0] else "H" if value > ref[1] else "N"
    return [{"coding": [coding(INTERPRETATION, code, INTERPRETATION_DISPLAY[code])]}]


def reference_range(entry):
    low, high = entry[6]
    rr = {"high": {"value": high, "unit": entry[3], "system": UCUM, "code": entry[2]}}
    if low > 0:
        rr = {"low": {"value": low, "unit": entry[3], "system": UCUM, "code": entry[2]}, **rr}
    return [rr]


def make_observation(rng, oid, pid, eid, start, end, zone):
    effective = start + datetime.timedelta(seconds=int(rng.unit() * max((end - start).total_seconds(), 60)))
    issued = effective + datetime.timedelta(minutes=5 + rng.below(180), milliseconds=rng.below(1000))
    vital = rng.unit() < 0.45
    category = ("vital-signs", "Vital Signs") if vital else ("laboratory", "Laboratory")
    obs = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [{"coding": [coding(OBS_CATEGORY, category[0], category[1])], "text": category[1]}],
    }
    if vital and rng.unit() < BP_SHARE:
        systolic, diastolic = VITALS[7], VITALS[8]
        obs["code"] = {"coding": [coding(LOINC, BP_PANEL[0], BP_PANEL[1])], "text": "Blood pressure"}
        tail = {"component": []}
        for entry in (systolic, diastolic):
            value = quantity_value(rng.between(*entry[4]), 0)
            component = {"code": code_concept(entry), "valueQuantity": quantity(entry, value)}
            if rng.unit() < 0.5:
                component["interpretation"] = interpretation(value, entry[6])
            tail["component"].append(component)
    else:
        entry = rng.pick(VITALS if vital else LABS)
        value = quantity_value(rng.between(*entry[4]), entry[5])
        obs["code"] = code_concept(entry)
        tail = {"valueQuantity": quantity(entry, value)}
        if entry[6] is not None:
            if rng.unit() < (0.3 if vital else 0.6):
                tail["interpretation"] = interpretation(value, entry[6])
            if not vital and rng.unit() < 0.7:
                tail["referenceRange"] = reference_range(entry)
    obs["subject"] = {"reference": "Patient/" + pid}
    obs["encounter"] = {"reference": "Encounter/" + eid}
    obs["effectiveDateTime"] = stamp(effective, zone)
    obs["issued"] = stamp(issued, zone, millis=True)
    obs.update(tail)
    return obs


def dump(resource):
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="NDJSON file to write")
    ap.add_argument("--patients", type=int, default=100000, help="patients (10 resources each); default 100000")
    ap.add_argument("--seed", type=int, default=20250101, help="generator seed; default 20250101")
    args = ap.parse_args()
    if args.patients < 1:
        ap.error("--patients must be at least 1")

    width = max(6, len(str(args.patients)))
    # One pass over the patients, each type to its own part file, then the
    # parts concatenated: the per-type order without holding the corpus.
    parts = [args.out + ".part-" + t for t in ("patients", "encounters", "observations")]
    files = [open(p, "w", encoding="utf-8", newline="\n") for p in parts]
    try:
        for n in range(1, args.patients + 1):
            rng = Rng("%d/%d" % (args.seed, n))
            pid = "pat-%0*d" % (width, n)
            patient, country, org_id = make_patient(rng, n, pid)
            files[0].write(dump(patient))
            obs_no = 0
            for e in (1, 2):
                eid = "enc-%0*d-%d" % (width, n, e)
                encounter, start, end, zone = make_encounter(rng, eid, pid, country, org_id)
                files[1].write(dump(encounter))
                # 7 observations per patient: 3 in the first encounter, 4 in the second.
                for _ in range(3 if e == 1 else 4):
                    obs_no += 1
                    oid = "obs-%0*d-%d" % (width, n, obs_no)
                    files[2].write(dump(make_observation(rng, oid, pid, eid, start, end, zone)))
    finally:
        for f in files:
            f.close()

    tmp = args.out + ".tmp"
    with open(tmp, "wb") as out:
        for p in parts:
            with open(p, "rb") as f:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
            os.remove(p)
    os.replace(tmp, args.out)  # a half-written corpus is never left under the final name
    print("store_corpus: %d patients, %d resources -> %s" % (args.patients, args.patients * 10, args.out),
          file=sys.stderr)


if __name__ == "__main__":
    main()
