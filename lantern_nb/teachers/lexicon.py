"""A curated lexicon of real-world job qualifications with their synonyms (rubric teacher T1).

Categories: skills and tools, degree levels and fields, licenses, certifications, languages and
soft skills, across software, data, nursing and healthcare, accounting and finance, sales,
warehouse and logistics, driving, teaching, mechanical engineering, marketing, customer support,
HR, retail and the trades. Each `Term` has case-insensitive synonyms plus case-sensitive
abbreviations (RN, BA, Go, R) so that short forms do not match ordinary words. A `parent` links a
specific term to its family (PostgreSQL -> SQL): a family requirement is met by any member, a
specific requirement only partially by a sibling. `OCCUPATIONS` lists title/domain words used to
decide which dated roles count towards "N years of X experience".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field as dc_field
from functools import lru_cache
from typing import Iterable

CATEGORIES: tuple[str, ...] = ("skill", "degree", "field", "license", "certification", "language", "soft")


@dataclass(frozen=True)
class Term:
    """One canonical qualification with its surface variants."""

    canonical: str
    category: str
    synonyms: tuple[str, ...] = ()
    cased: tuple[str, ...] = ()
    parent: str | None = None
    level: int | None = None  # degrees: 1 high school .. 5 doctorate
    field: str | None = None  # degree abbreviations that imply a field (BSN -> Nursing)
    patterns: tuple[str, ...] = dc_field(default=(), compare=False)  # extra raw regexes


@dataclass(frozen=True)
class TermMatch:
    term: Term
    start: int
    end: int
    surface: str


def _t(category: str, canonical: str, *synonyms: str, cased: Iterable[str] = (), parent: str | None = None,
       level: int | None = None, fld: str | None = None, patterns: Iterable[str] = ()) -> Term:
    return Term(canonical, category, (canonical, *synonyms), tuple(cased), parent, level, fld, tuple(patterns))


def _skills(*rows: tuple) -> list[Term]:
    out = []
    for row in rows:
        name, *rest = row
        kwargs = rest.pop() if rest and isinstance(rest[-1], dict) else {}
        out.append(_t("skill", name, *rest, **kwargs))
    return out


S = _skills
TERMS: list[Term] = [
    # ---- software engineering -------------------------------------------------------------
    *S(("Python", "python3"),
       ("Java", "J2EE", "JVM", {"cased": ["Java"]}),
       ("JavaScript", "ECMAScript", "ES6", {"cased": ["JS"]}),
       ("TypeScript", {"cased": ["TS"]}),
       ("Go", "Golang", {"cased": ["Go"]}),
       ("Rust", {"cased": ["Rust"]}),
       ("C++", "cpp", "C/C++"),
       ("C#", "C Sharp", "csharp"),
       ("C", {"patterns": [r"(?<![\w/+#.-])(?<!Class )(?<!class )C(?![\w+#.'’-])(?=\s*(?:,|/|and|or|\)|programming|language))"]}),
       ("Ruby", "Ruby on Rails", "Rails"),
       ("PHP", "Laravel"),
       ("Scala",),
       ("Kotlin",),
       ("Swift", "SwiftUI", {"cased": ["Swift"]}),
       ("R", "RStudio", "tidyverse", {"patterns": [r"(?<![\w&/.'’-])R(?![\w&+#/.'’-])"]}),
       ("SQL", "relational databases", "relational database", "RDBMS"),
       ("PostgreSQL", "Postgres", {"parent": "SQL"}),
       ("MySQL", "MariaDB", {"parent": "SQL"}),
       ("SQL Server", "T-SQL", "TSQL", "MSSQL", "Microsoft SQL Server", {"parent": "SQL"}),
       ("Oracle Database", "PL/SQL", "Oracle DB", {"parent": "SQL"}),
       ("SQLite", {"parent": "SQL"}),
       ("NoSQL", "non-relational databases"),
       ("MongoDB", "Mongo", {"parent": "NoSQL"}),
       ("Cassandra", {"parent": "NoSQL"}),
       ("DynamoDB", {"parent": "NoSQL"}),
       ("Redis", "Memcached"),
       ("Elasticsearch", "OpenSearch", "ELK"),
       ("Kafka", "Apache Kafka", "Kinesis", "message queues", "RabbitMQ"),
       ("Kubernetes", "k8s", "EKS", "GKE", "AKS", "OpenShift", "Helm"),
       ("Docker", "containers", "containerization", "containerized", "Podman"),
       ("Terraform", "infrastructure as code", "IaC", "CloudFormation", "Pulumi"),
       ("Ansible", "Chef", "Puppet", "configuration management"),
       ("cloud platforms", "cloud computing", "cloud infrastructure", "cloud platform", "cloud services",
        "public cloud", "cloud provider", "cloud providers"),
       ("AWS", "Amazon Web Services", "EC2", "S3", "AWS Lambda", "Lambda", "ECS", "RDS", {"parent": "cloud platforms"}),
       ("GCP", "Google Cloud", "Google Cloud Platform", {"parent": "cloud platforms"}),
       ("Azure", "Microsoft Azure", {"parent": "cloud platforms"}),
       ("CI/CD", "continuous integration", "continuous delivery", "continuous deployment", "Jenkins",
        "GitHub Actions", "GitLab CI", "CircleCI", "build pipelines", "deployment pipelines"),
       ("Git", "GitHub", "GitLab", "Bitbucket", "version control"),
       ("Linux", "Unix", "Ubuntu", "RHEL", "Red Hat", "bash", "shell scripting"),
       ("React", "React.js", "ReactJS", "React Native", "Next.js", {"parent": "JavaScript"}),
       ("Angular", "AngularJS", {"parent": "JavaScript"}),
       ("Vue", "Vue.js", "VueJS", "Nuxt", {"parent": "JavaScript"}),
       ("Node.js", "NodeJS", "Express.js", {"cased": ["Node", "Express"], "parent": "JavaScript"}),
       ("Django", "Django REST Framework", {"parent": "Python"}),
       ("Flask", {"cased": ["Flask"], "parent": "Python"}),
       ("FastAPI", {"parent": "Python"}),
       ("Spring Boot", "Spring Framework", "Spring MVC", {"parent": "Java"}),
       (".NET", "ASP.NET", ".NET Core", "dotnet", {"parent": "C#"}),
       ("REST APIs", "REST API", "RESTful", "RESTful APIs", "web services", "API design", "APIs", "API", {"cased": ["REST"]}),
       ("GraphQL",),
       ("gRPC", "protobuf"),
       ("microservices", "microservice architecture", "service-oriented architecture", "SOA",
        "event-driven architecture", "event-driven services", "service mesh"),
       ("distributed systems", "system design", "scalable systems", "high-availability", "large-scale systems",
        "message queues", "message queue", "RabbitMQ", "SQS", "event-driven", "high-throughput"),
       ("HTML", "HTML5"),
       ("CSS", "CSS3", "Sass", "SCSS", "Tailwind"),
       ("software testing", "unit testing", "unit tests", "automated testing", "test automation", "TDD",
        "test-driven development", "pytest", "JUnit", "Selenium", "Cypress", "Jest", "integration tests",
        "integration testing", "integration test", "test harness", "test harnesses", "end-to-end tests",
        "automated tests", "test suites", "test coverage"),
       ("agile", "Scrum", "Kanban", "sprint planning", "agile methodologies"),
       ("Jira", "Confluence", "Atlassian"),
       ("observability", "monitoring", "Prometheus", "Grafana", "Datadog", "Splunk", "New Relic"),
       ("networking", "TCP/IP", "DNS", "LAN", "WAN", "VPN", "firewalls", "routers", "switches"),
       ("cybersecurity", "information security", "security engineering", "SIEM", "penetration testing",
        "vulnerability management", "IAM"),
       ("mobile development", "iOS", "Android", "mobile apps"),
       ("technical troubleshooting", "troubleshooting", "troubleshoot", "diagnose", "diagnosing", "debugging",
        "log analysis", "bug reproduction", "reproducing bugs", "root-causing", "root causing"),
       # ---- data, analytics, ML ------------------------------------------------------------
       ("machine learning", "ML", "predictive modeling", "predictive models", "supervised learning",
        "classification models", "regression models", "XGBoost", "LightGBM"),
       ("deep learning", "neural networks", "CNNs", "transformers", "LLMs", "large language models"),
       ("PyTorch", "Torch", {"parent": "deep learning"}),
       ("TensorFlow", "Keras", {"parent": "deep learning"}),
       ("scikit-learn", "sklearn", {"parent": "machine learning"}),
       ("pandas", "NumPy", "SciPy", "Jupyter", "dataframes", {"parent": "Python"}),
       ("NLP", "natural language processing", "text mining", "spaCy", "NLTK"),
       ("computer vision", "image processing", "OpenCV"),
       ("statistics", "statistical analysis", "statistical modeling", "statistical modelling", "statistical methods",
        "hypothesis testing", "regression analysis", "regression modeling", "regression modelling",
        "regression models", "SPSS", "SAS", "Stata", "econometrics", "Bayesian", "time series"),
       ("A/B testing", "experimentation", "experiment design", "split testing", "controlled experiments",
        "multivariate testing", "conversion rate optimization", "CRO", "Optimizely"),
       ("Spark", "Apache Spark", "PySpark", "Databricks", "Hadoop", "Hive", "MapReduce", "big data"),
       ("Airflow", "Apache Airflow", "Dagster", "Prefect", "Luigi", "workflow orchestration"),
       ("dbt", "data build tool"),
       ("data warehousing", "data warehouse", "Snowflake", "BigQuery", "Redshift", "Synapse",
        "dimensional modeling", "star schema", "data modeling"),
       ("ETL", "ELT", "data pipelines", "data pipeline", "data integration", "data ingestion", "SSIS", "Informatica"),
       ("data visualization", "dashboards", "dashboard", "dashboarding", "data storytelling", "visualizations",
        "Matplotlib", "Seaborn", "Plotly", "D3.js"),
       ("Tableau", {"parent": "data visualization"}),
       ("Power BI", "PowerBI", "DAX", "Power Query", {"parent": "data visualization"}),
       ("Looker", "LookML", "Looker Studio", "Data Studio", {"parent": "data visualization"}),
       ("Excel", "Microsoft Excel", "MS Excel", "spreadsheets", "spreadsheet", "VLOOKUP", "XLOOKUP",
        "pivot tables", "pivot table", "Google Sheets", {"cased": ["Excel"]}),
       ("Microsoft Office", "MS Office", "Office 365", "Microsoft 365", "MS Word", "Microsoft Word", "PowerPoint",
        "Google Workspace", "G Suite", "computer literacy", "computer skills", "basic computer"),
       ("data analysis", "data analytics", "analytics", "analyzing data", "analyze data", "quantitative analysis",
        "business intelligence", "reporting and analysis"),
       # ---- accounting & finance ---------------------------------------------------------
       ("GAAP", "US GAAP", "U.S. GAAP", "generally accepted accounting principles"),
       ("IFRS", "international financial reporting standards"),
       ("QuickBooks", "QuickBooks Online", "QBO", "Xero", "FreshBooks", "Sage"),
       ("ERP systems", "ERP", "enterprise resource planning"),
       ("SAP", "SAP S/4HANA", "SAP ERP", "S/4HANA", "SAP FICO", {"cased": ["SAP"], "parent": "ERP systems"}),
       ("Oracle ERP", "Oracle Financials", "Oracle EBS", "Oracle Fusion", "PeopleSoft", {"parent": "ERP systems"}),
       ("NetSuite", "Oracle NetSuite", {"parent": "ERP systems"}),
       ("Microsoft Dynamics", "Dynamics 365", "Dynamics GP", "Dynamics NAV", {"parent": "ERP systems"}),
       ("accounts payable", "A/P", "AP processing", "vendor payments", "invoice processing", {"cased": ["AP"]}),
       ("accounts receivable", "A/R", "AR", "collections", "billing", "invoicing", {"cased": ["AR"]}),
       ("general ledger", "GL", "journal entries", "journal entry", "ledger"),
       ("reconciliations", "account reconciliations", "account reconciliation", "bank reconciliations",
        "bank reconciliation", "reconciling accounts", "reconcile accounts", "reconciled", "reconciliation",
        "bank recs", "account recs", "balance-sheet recs", "balance sheet recs", "recs"),
       ("month-end close", "month end close", "month-end closing", "year-end close", "monthly close",
        "financial close", "close process", "month-end", "year-end"),
       ("financial reporting", "financial statements", "financial statement", "balance sheet", "income statement",
        "P&L", "profit and loss", "10-K", "10-Q", "SEC reporting"),
       ("tax preparation", "tax returns", "tax compliance", "taxation", "sales tax", "corporate tax",
        "individual tax", "tax filings", "tax provision", "Form 1120", "Form 1065", "Form 1040",
        {"patterns": [r"\b(?:1120S?|1065|1040|990)(?:/(?:1120S?|1065|1040|990))*\s+(?:returns?|filings?)"]}),
       ("auditing", "audit", "audits", "internal audit", "external audit", "SOX", "Sarbanes-Oxley",
        "internal controls", "audit support"),
       ("budgeting and forecasting", "budgeting", "forecasting", "budgets", "variance analysis", "FP&A",
        "financial planning"),
       ("financial modeling", "financial models", "DCF", "valuation"),
       ("payroll", "ADP", "Paychex", "Gusto", "payroll processing"),
       ("bookkeeping", "book-keeping", "bookkeeper"),
       ("cost accounting", "inventory costing", "standard costing"),
       # ---- healthcare ----------------------------------------------------------------------
       ("patient care", "direct patient care", "bedside care", "patient-centered care", "patient assessment",
        "patient assessments", "caring for patients", "patients", "head-to-toe assessment", "head-to-toe assessments",
        "early-warning score", "early warning score", "nursing assessment", "nursing assessments"),
       ("acute care", "acute-care", "inpatient", "hospital setting", "hospital"),
       ("critical care", "ICU", "intensive care", "CCU", "critical-care", "MICU", "SICU", "CVICU",
        "ventilated patients", "ventilator management", "vent management", "mechanical ventilation",
        "vasoactive drips", "vasoactive drip titration", "drip titration", "titrated drips", "CRRT",
        {"parent": "acute care"}),
       ("medical-surgical", "med-surg", "med/surg", "medical surgical", {"parent": "acute care"}),
       ("emergency department", "emergency room", "ER", "ED", "emergency nursing", "trauma",
        {"parent": "acute care", "cased": ["ER", "ED"]}),
       ("telemetry", "cardiac monitoring", "step-down", "stepdown", "progressive care", "rhythm strips",
        "cardiac rhythm interpretation", "rhythm interpretation", "EKG interpretation", "ECG interpretation",
        "arrhythmia recognition", "cardiac drips", {"parent": "acute care"}),
       ("pediatrics", "pediatric", "PICU", "NICU", "neonatal"),
       ("labor and delivery", "L&D", "obstetrics", "OB", "postpartum", "maternity", {"cased": ["OB"]}),
       ("operating room", "perioperative", "surgical services", "OR nursing", "PACU"),
       ("long-term care", "skilled nursing facility", "SNF", "nursing home", "assisted living", "geriatric",
        "geriatrics", "home health", "hospice"),
       ("electronic health records", "EHR", "EMR", "electronic medical records", "electronic medical record",
        "electronic health record", "charting", "clinical documentation", "EHR documentation",
        "EMR documentation", "nursing documentation", "EHR charting"),
       ("Epic", "Epic Systems", "EpicCare", {"cased": ["Epic"], "parent": "electronic health records"}),
       ("Cerner", "Oracle Health", {"parent": "electronic health records"}),
       ("Meditech", {"parent": "electronic health records"}),
       ("medication administration", "administering medications", "administer medications", "administered medications",
        "med pass", "medication management", "medication pass", "high-alert medication", "high-alert medications",
        "barcode medication administration", "BCMA", "medication reconciliation", "med administration"),
       ("IV therapy", "IV insertion", "IV starts", "intravenous", "IV medications", "IVs", "IV infusions",
        "infusion pumps", "infusions", "infusion management", "peripheral IV", "PIV placement", "PIV", "IV placement"),
       ("triage",),
       ("wound care", "wound management", "dressing changes", "wound assessment", "pressure injury",
        "pressure injuries", "pressure ulcer", "pressure ulcers", "incision care", "wound VAC", "wound vac",
        "negative pressure wound therapy", "dressings"),
       ("vital signs", "vitals"),
       ("phlebotomy", "venipuncture", "blood draws", "specimen collection"),
       ("HIPAA", "patient confidentiality", "PHI"),
       ("care planning", "care plans", "nursing care plans", "discharge planning", "care coordination"),
       ("patient education", "discharge teaching", "discharge education", "patient teaching", "family education",
        "patient and family education", "teach-back", "family care conferences", "health education"),
       ("infection control", "infection prevention", "sterile technique", "aseptic technique", "CLABSI", "CAUTI",
        "hand hygiene", "isolation precautions", "infection prevention bundles"),
       ("medical terminology",),
       ("medical billing and coding", "medical coding", "medical billing", "ICD-10", "CPT coding", "CPT"),
       # ---- sales -----------------------------------------------------------------------------
       ("CRM", "CRM software", "customer relationship management", "Pipedrive", "Zoho CRM"),
       ("Salesforce", "SFDC", "Salesforce.com", "Sales Cloud", "Service Cloud", {"parent": "CRM"}),
       ("HubSpot", "HubSpot CRM", {"parent": "CRM"}),
       ("B2B sales", "B2B", "business-to-business", "enterprise sales", "SaaS sales", "solution selling",
        "consultative selling", "selling software", "SaaS subscription sales", "subscription sales", "B2B selling",
        "mid-market sales", "SMB sales"),
       ("B2C sales", "B2C", "retail sales", "consumer sales", "direct sales"),
       ("prospecting", "cold calling", "cold calls", "cold outreach", "outbound", "lead generation",
        "lead qualification", "pipeline generation", "generating leads"),
       ("quota attainment", "quota", "quotas", "sales targets", "sales goals", "exceeded target",
        "revenue targets", "President's Club", "Presidents Club"),
       ("account management", "account manager", "managed accounts", "client relationships",
        "customer relationships", "relationship management", "key accounts", "client retention",
        "upselling", "upsell", "cross-selling", "renewals"),
       ("negotiation", "negotiating", "negotiate", "negotiated", "contract negotiation", "closing deals",
        "closing", "closed deals"),
       ("pipeline management", "sales pipeline", "forecasting pipeline", "sales forecasting", "sales cycle",
        "full-cycle sales", "full sales cycle", "territory planning", "forecast accuracy", "pipeline reviews",
        "pipeline hygiene", "deal reviews"),
       ("business development", "biz dev", "new business", "partnerships"),
       # ---- warehouse, logistics, driving, trades --------------------------------------------
       ("forklift operation", "forklift", "forklifts", "fork lift", "forklift operator", "reach truck",
        "order picker", "cherry picker", "powered industrial truck", "powered industrial trucks", "PIT",
        "sit-down forklift", "stand-up forklift", "pallet jack", "pallet jacks", "electric pallet jack",
        "walkie rider", "walkie riders", "walkie", "rider jack", "rider jacks", "clamp truck", "turret truck"),
       ("warehouse management systems", "WMS", "warehouse management system", "Manhattan WMS", "SAP EWM",
        "HighJump", "Blue Yonder"),
       ("RF scanning", "RF scanner", "RF scanners", "RF gun", "handheld scanner", "handheld scanners",
        "barcode scanner", "barcode scanning", "scanner", "scanning"),
       ("inventory management", "inventory control", "inventory", "cycle counts", "cycle counting",
        "stock control", "stocking", "restocking", "inventory accuracy", "location accuracy", "stock accuracy"),
       ("shipping and receiving", "shipping", "receiving", "inbound", "outbound shipments", "dock",
        "loading dock", "putaway", "put-away", "put away", "cross-docking"),
       ("order picking", "picking", "pick and pack", "pick/pack", "packing", "order fulfillment",
        "fulfillment", "order selector", "order selection", "picker", "packer"),
       ("loading and unloading", "loading", "unloading", "loaded", "unloaded", "loader", "trailers",
        "trucks", "palletizing", "pallet building", "building pallets"),
       ("lifting heavy objects", "lift up to 50", "lift 50", "lifting up to", "lift up to", "heavy lifting",
        "lift heavy", "lifted", "physically demanding", "standing for long periods",
        {"patterns": [r"(?i)\blift(?:ing)?\s+(?:up\s+to\s+)?\d+\s*(?:lbs?|pounds|kg)",
                      r"(?i)\b\d{2,3}\s*\+?\s*(?:-\s*)?(?:lbs?|pounds)\b"]}),
       ("logistics", "supply chain", "supply chain management", "distribution", "transportation management",
        "TMS", "freight", "3PL"),
       ("material handling", "materials handling", "material handler"),
       ("Lean manufacturing", "5S", "Kaizen", "continuous improvement", "Lean Six Sigma", {"cased": ["Lean"]}),
       ("route delivery", "delivery routes", "last-mile delivery", "route planning", "deliveries", "delivery driver",
        "DOT regulations", "hours of service", "ELD"),
       ("clean driving record", "safe driving record", "good driving record", "motor vehicle record", "MVR"),
       ("safety procedures", "safety protocols", "safety standards", "workplace safety", "safety regulations",
        "safety compliance", "OSHA regulations", "OSHA standards", "safe work practices", "PPE", "safety record",
        "recordable incidents", "zero recordables", "lockout/tagout", "lockout tagout", "LOTO", "safety audits",
        "safety training", "incident-free"),
       ("machine operation", "machine operator", "CNC", "CNC machining", "lathe", "mill", "press operation"),
       ("electrical systems", "electrical wiring", "wiring", "NEC", "National Electrical Code", "circuits"),
       ("blueprint reading", "blueprints", "read blueprints", "technical drawings", "schematics",
        "engineering drawings", "reading drawings"),
       ("welding", "MIG", "TIG", "stick welding", "fabrication"),
       ("hand and power tools", "power tools", "hand tools"),
       # ---- teaching --------------------------------------------------------------------------
       ("lesson planning", "lesson plans", "lesson plan", "curriculum development", "curriculum design",
        "curriculum planning", "instructional design", "unit plans", "designed curriculum", "developed curriculum",
        "curriculum mapping", "backward design", "backward-design", "unit planning", "lesson design"),
       ("classroom management", "behavior management", "behaviour management", "positive behavior",
        "PBIS", "managing classrooms", "classroom of", "restorative practices", "restorative classroom",
        "restorative justice", "behavior plans", "behavior management plans"),
       ("differentiated instruction", "differentiation", "differentiated", "differentiating instruction",
        "individualized instruction", "small-group instruction", "small group instruction", "RTI", "MTSS",
        "tiered assignments", "tiered instruction", "scaffolding", "scaffolded", "UDL",
        "universal design for learning", "UDL-based"),
       ("special education", "SPED", "IEP", "IEPs", "individualized education program", "504 plans", "504 plan",
        "IEP accommodations", "co-teaching", "co-taught",
        "students with disabilities", "inclusion"),
       ("student assessment", "formative assessment", "summative assessment", "assessments", "grading",
        "progress monitoring", "student data", "data-driven instruction", "assessment data", "NWEA", "MAP testing",
        "MAP data", "benchmark assessments", "formative assessment cycles", "exit tickets"),
       ("educational technology", "Google Classroom", "Canvas", "Schoology", "Blackboard", "Moodle",
        "smartboard", "SMART Board", "edtech", "learning management system", "LMS"),
       ("Common Core", "state standards", "standards-aligned", "NGSS", "TEKS"),
       ("ESL instruction", "ESL", "ELL", "ELLs", "English language learners", "English learners", "ESOL", "EFL",
        "teaching English"),
       ("parent communication", "parent-teacher conferences", "parent conferences", "family engagement",
        "communicating with parents", "communication with parents", "parents and guardians", "family newsletters",
        "parent newsletters", "family outreach", "ClassDojo", "communication with families",
        "communicating with families", "family communication", "home visits"),
       ("tutoring", "tutor", "tutored", "mentoring students"),
       # ---- mechanical engineering ----------------------------------------------------------
       ("CAD", "computer-aided design", "3D modeling", "3D CAD", "CAD software", "CAD modeling"),
       ("SolidWorks", "Solidworks", "SOLIDWORKS", {"parent": "CAD"}),
       ("AutoCAD", "Auto CAD", {"parent": "CAD"}),
       ("CATIA", {"parent": "CAD"}),
       ("Creo", "Pro/ENGINEER", "Pro/E", "PTC Creo", {"parent": "CAD"}),
       ("Autodesk Inventor", "Inventor", "Fusion 360", {"parent": "CAD", "cased": ["Inventor"]}),
       ("Siemens NX", "Unigraphics", "NX CAD", {"parent": "CAD"}),
       ("GD&T", "geometric dimensioning and tolerancing", "tolerance analysis", "tolerance stack-up",
        "tolerance stackups", "tolerance stack-ups", "tolerancing", "Y14.5", "ASME Y14.5"),
       ("FEA", "finite element analysis", "finite element", "ANSYS", "Abaqus", "structural analysis",
        "stress analysis", "simulation"),
       ("CFD", "computational fluid dynamics", "fluid dynamics", "Fluent", "STAR-CCM+"),
       ("MATLAB", "Simulink"),
       ("thermodynamics", "heat transfer", "thermal analysis", "thermal management", "thermal"),
       ("HVAC", "heating, ventilation", "refrigeration", "air conditioning"),
       ("manufacturing processes", "manufacturing", "machining", "injection molding", "sheet metal",
        "casting", "DFM", "design for manufacturing", "design for manufacturability", "DFMA"),
       ("prototyping", "prototype", "prototypes", "3D printing", "additive manufacturing", "rapid prototyping",
        "EVT", "DVT", "PVT", "EVT/DVT", "DVT/PVT", "test fixtures", "test fixture", "fixture design",
        "design validation", "validation testing"),
       ("root cause analysis", "RCA", "8D", "FMEA", "DFMEA", "PFMEA", "failure analysis", "5 Whys"),
       ("product design", "mechanical design", "design engineering", "product development", "NPI",
        "new product introduction", "mechanical components", "mechanisms", "enclosures"),
       ("PLC programming", "PLC", "PLCs", "ladder logic", "Allen-Bradley", "automation controls"),
       ("quality control", "quality assurance", "QA/QC", "QC", "inspection", "ISO 9001", "quality inspection",
        "SPC", "statistical process control"),
       # ---- marketing -------------------------------------------------------------------------
       ("SEO", "search engine optimization", "keyword research", "on-page optimization", "organic search",
        "Ahrefs", "SEMrush", "Moz"),
       ("SEM", "search engine marketing", "paid search", "PPC", "pay-per-click", "paid media", "paid social",
        "performance marketing", "paid advertising", "digital advertising", "Meta Ads", "Facebook Ads"),
       ("Google Ads", "AdWords", "Google AdWords", {"parent": "SEM"}),
       ("Google Analytics", "GA4", "Universal Analytics", "Google Tag Manager", "GTM", "web analytics",
        "Adobe Analytics"),
       ("social media marketing", "social media", "Instagram", "TikTok", "LinkedIn marketing",
        "community management", "social media management", "Hootsuite", "Sprout Social"),
       ("content marketing", "content creation", "content strategy", "copywriting", "copy writing",
        "blog posts", "content writing", "editorial calendar", "storytelling"),
       ("email marketing", "email campaigns", "Mailchimp", "Klaviyo", "newsletters", "drip campaigns",
        "lifecycle marketing", "CRM marketing", "lifecycle campaigns", "lifecycle emails", "email automation",
        "Braze", "Iterable", "Customer.io", "Sendgrid"),
       ("marketing automation", "Marketo", "Pardot", "Eloqua", "ActiveCampaign", "automated nurture",
        "nurture campaigns"),
       ("brand management", "branding", "brand strategy", "brand marketing", "brand guidelines", "positioning"),
       ("Adobe Creative Suite", "Adobe Creative Cloud", "Photoshop", "Illustrator", "InDesign", "Premiere Pro",
        "After Effects", "Canva", "Figma", "graphic design"),
       ("campaign management", "marketing campaigns", "campaigns", "integrated campaigns", "go-to-market",
        "GTM strategy", "product launches", "demand generation", "demand gen"),
       ("market research", "competitive analysis", "customer research", "consumer insights", "surveys",
        "focus groups"),
       ("event planning", "events", "trade shows", "event management", "conferences"),
       # ---- customer support & service ---------------------------------------------------------
       ("customer service", "customer-facing", "client-facing", "guest service", "guest services",
        "customer care", "serving customers", "customer experience", "client service", "client services",
        "customer satisfaction", "customer interactions"),
       ("technical support", "tech support", "help desk", "helpdesk", "service desk", "IT support",
        "desktop support", "Tier 1", "Tier 2", "Tier I", "Tier II", "end-user support", "support tickets"),
       ("ticketing systems", "ticketing system", "ticketing", "Zendesk", "Freshdesk", "ServiceNow",
        "Intercom", "Help Scout", "Kustomer", "Gorgias", "Jira Service Management", "ticket queue", "tickets"),
       ("call center", "contact center", "call centre", "inbound calls", "outbound calls", "phone support",
        "high call volume", "high-volume calls", "high volume of calls", "answering phones"),
       ("live chat", "chat support", "email support", "omnichannel", "multi-channel support"),
       ("conflict resolution", "de-escalation", "de-escalate", "de-escalating", "difficult conversations",
        "handling complaints", "resolving complaints", "complaint resolution", "escalations", "irate customers",
        "upset customers", "upset callers", "escalation handling", "handling escalations", "customer complaints",
        "calming"),
       ("knowledge base", "knowledge-base", "KB articles", "KB authoring", "help center articles",
        "help-center articles", "self-service content", "support documentation", "FAQ articles", "macros"),
       ("CSAT", "customer satisfaction scores", "NPS", "net promoter score", "first contact resolution", "FCR",
        "average handle time", "AHT", "SLA", "SLAs", "KPIs"),
       ("typing", "typing speed", "words per minute", "WPM", "data entry", "keyboarding"),
       ("cash handling", "cash register", "POS", "point of sale", "point-of-sale", "cashier", "handling cash",
        "balancing cash drawer", "cash drawer"),
       ("merchandising", "visual merchandising", "planograms", "stocking shelves", "store displays"),
       ("food safety", "food handling", "food handler", "food preparation", "food service", "kitchen"),
       # ---- HR / management / general --------------------------------------------------------
       ("recruiting", "recruitment", "talent acquisition", "sourcing candidates", "full-cycle recruiting",
        "interviewing", "onboarding", "applicant tracking system", "ATS", "Workday", "Greenhouse", "Lever"),
       ("HRIS", "human resources information system", "BambooHR", "UKG", "Kronos"),
       ("employee relations", "employment law", "labor law", "FMLA", "benefits administration", "compensation"),
       ("project management", "project manager", "managing projects", "managed projects", "program management",
        "project planning", "project coordination", "Asana", "Trello", "Monday.com", "MS Project",
        "Microsoft Project", "Gantt", "Smartsheet"),
       ("stakeholder management", "stakeholders", "cross-functional", "cross functional", "cross-functionally",
        "stakeholder communication", "executive communication"),
       ("vendor management", "supplier management", "procurement", "purchasing", "sourcing", "vendor relations",
        "supplier relations"),
       ("budget management", "managed budgets", "manage budgets", "P&L responsibility", "cost control",
        "cost reduction", "budget of"),
       ("scheduling", "schedules", "shift scheduling", "calendar management", "appointment scheduling",
        "coordinating schedules"),
       ("training and coaching", "training new", "trained new", "trained", "coaching", "coached", "onboarding new",
        "train new", "training programs"),
       ("regulatory compliance", "compliance", "regulatory requirements", "regulations", "FDA", "GMP",
        "cGMP", "ISO 13485", "audit readiness"),
       ("process improvement", "process optimization", "workflow improvements", "streamlined", "streamline",
        "efficiency improvements", "improved efficiency", "optimize processes", "automation", "automated"),
       ("report writing", "technical writing", "documentation", "writing reports", "standard operating procedures",
        "SOPs", "SOP", "technical documentation"),
       ("public speaking", "presentations", "presenting", "presentation skills", "presented"),
)
]

TERMS += [
    # ---- soft skills ---------------------------------------------------------------------------
    _t("soft", "communication skills", "communication", "communicator", "communicate", "communicating",
       "verbal and written", "written and verbal", "written and oral", "interpersonal skills", "interpersonal"),
    _t("soft", "teamwork", "team player", "collaborative", "collaboration", "collaborate", "collaborated",
       "work in a team", "works well with others", "team environment", "team-oriented", "team oriented"),
    _t("soft", "leadership", "leader", "lead a team", "led a team", "team lead", "leading a team", "leading teams",
       "team leadership", "led teams", "managing a team", "managed teams", "team leader",
       "supervise", "supervised", "supervisor", "supervising", "managed a team", "manage a team", "people management",
       "people manager", "mentored", "mentor", "mentoring", "mentorship", "charge nurse", "shift lead",
       cased=["Led", "Lead"]),
    _t("soft", "problem solving", "problem-solving", "problem solver", "solve problems", "solving problems",
       "analytical skills", "analytical", "critical thinking", "troubleshooting skills", "resourceful"),
    _t("soft", "attention to detail", "detail-oriented", "detail oriented", "attention-to-detail",
       "meticulous", "accuracy", "accurate", "thorough", "precision"),
    _t("soft", "time management", "organizational skills", "organized", "organised", "multitask",
       "multitasking", "multi-task", "prioritize", "prioritization", "prioritizing", "deadlines", "deadline-driven",
       "fast-paced", "fast paced"),
    _t("soft", "adaptability", "adaptable", "flexible", "flexibility", "ambiguity", "willing to learn",
       "quick learner", "learn quickly", "self-starter", "self starter", "self-motivated", "independently",
       "work independently", "initiative", "proactive"),
    _t("soft", "empathy", "empathetic", "compassion", "compassionate", "patient and", "patience", "caring",
       "bedside manner"),
    _t("soft", "reliability", "reliable", "dependable", "punctual", "punctuality", "good attendance",
       "attendance record", "perfect attendance", "work ethic", "strong work ethic"),
    _t("soft", "flexible schedule", "weekends", "nights", "overtime", "rotating shifts", "night shift",
       "evening shift", "12-hour shifts", "on-call", "on call", "shifts"),
]

TERMS += [
    # ---- degrees (levels) --------------------------------------------------------------------
    _t("degree", "high school diploma", "high school degree", "high school education", "high school graduate",
       "secondary school diploma", "secondary education", "HS diploma", "GED", "G.E.D.", "high school or equivalent",
       "high school/GED", "high school", "diploma", level=1),
    _t("degree", "associate degree", "associate's degree", "associates degree", "associate’s degree",
       "associate of science", "associate of arts", "associate of applied science", "A.A.S.", "AAS", "A.S. degree",
       "A.A. degree", "two-year degree", "2-year degree", "associate in", level=2),
    _t("degree", "ADN", "associate degree in nursing", "associate of science in nursing", "ASN",
       level=2, fld="nursing", cased=["ADN", "ASN"]),
    _t("degree", "bachelor's degree", "bachelor", "bachelors", "bachelor's", "bachelor’s", "bachelor of science",
       "bachelor of arts", "bachelor of engineering", "B.S.", "B.Sc.", "B.Sc", "BSc", "B.A.", "B.Eng", "BEng", "B.E.",
       "B.Tech", "BTech", "BBA", "B.B.A.", "B.Com", "undergraduate degree", "four-year degree", "4-year degree",
       "college degree", "university degree", "baccalaureate", "bachelor degree", "degree in", "degree from",
       cased=["BS", "BA", "BE"], level=3),
    _t("degree", "BSN", "bachelor of science in nursing", "B.S.N.", level=3, fld="nursing", cased=["BSN"]),
    _t("degree", "BSCS", "B.S.C.S.", level=3, fld="computer science", cased=["BSCS"]),
    _t("degree", "BSME", "B.S.M.E.", level=3, fld="mechanical engineering", cased=["BSME"]),
    _t("degree", "BSEE", level=3, fld="electrical engineering", cased=["BSEE"]),
    _t("degree", "master's degree", "master's", "masters", "master’s", "master of science", "master of arts",
       "master of engineering", "masters degree", "master degree", "M.S.", "M.Sc.", "MSc", "M.Sc", "M.A.",
       "M.Eng", "MEng", "M.Ed.", "M.Ed", "MEd", "MPH", "MPA", "graduate degree", "advanced degree",
       "postgraduate degree", "post-graduate degree",
       cased=["MS", "MA"], level=4,
       patterns=[r"(?<![\w.])M\.?S\.?(?=\s+(?:in|degree)\b)"]),
    _t("degree", "MBA", "M.B.A.", "master of business administration", level=4, fld="business", cased=["MBA"]),
    _t("degree", "MSN", "master of science in nursing", level=4, fld="nursing", cased=["MSN"]),
    _t("degree", "doctorate", "PhD", "Ph.D.", "Ph.D", "doctoral degree", "doctoral", "doctor of philosophy",
       "Ed.D.", "EdD", "DNP", "D.Eng", level=5),
    # ---- degree fields ---------------------------------------------------------------------
    _t("field", "computer science", "computer engineering", "software engineering", "information technology",
       "information systems", "computing", cased=["CS", "IT"]),
    _t("field", "engineering", "engineering degree", "engineering discipline"),
    _t("field", "mechanical engineering", "mechanical", "ME degree", parent="engineering"),
    _t("field", "electrical engineering", "electrical", "EE degree", "electronics engineering", parent="engineering"),
    _t("field", "civil engineering", parent="engineering"),
    _t("field", "industrial engineering", "manufacturing engineering", parent="engineering"),
    _t("field", "aerospace engineering", parent="engineering"),
    _t("field", "chemical engineering", parent="engineering"),
    _t("field", "nursing", "nurse"),
    _t("field", "accounting", "accountancy"),
    _t("field", "finance", "financial"),
    _t("field", "business administration", "business", "management", "commerce"),
    _t("field", "economics", "econ"),
    _t("field", "marketing"),
    _t("field", "communications", "journalism", "public relations", "media studies"),
    _t("field", "education", "elementary education", "secondary education", "early childhood education",
       "teaching", "curriculum and instruction"),
    _t("field", "mathematics", "math", "applied mathematics", "maths"),
    _t("field", "statistics", "biostatistics"),
    _t("field", "data science", "analytics", "data analytics"),
    _t("field", "physics", "applied physics"),
    _t("field", "supply chain management", "supply chain", "logistics", "operations management"),
    _t("field", "human resources", "HR management", "industrial relations"),
    _t("field", "biology", "life sciences", "biochemistry", "health sciences"),
    _t("field", "chemistry",),
    _t("field", "psychology",),
    _t("field", "English", "literature", "English literature"),
]

TERMS += [
    # ---- licenses ------------------------------------------------------------------------------
    _t("license", "Registered Nurse license", "Registered Nurse", "RN license", "registered nursing license",
       "RN licensure", "licensed as an RN", "RN, BSN", "nursing license", "compact license", "multistate license",
       "NCLEX-RN", "NCLEX", cased=["RN"]),
    _t("license", "LPN license", "Licensed Practical Nurse", "Licensed Vocational Nurse", "LVN",
       cased=["LPN", "LVN"]),
    _t("license", "CNA certification", "Certified Nursing Assistant", "Certified Nurse Aide",
       "nursing assistant certification", cased=["CNA"]),
    _t("license", "Nurse Practitioner license", "Nurse Practitioner", "APRN", "FNP", "FNP-BC", "NP license",
       cased=["NP"]),
    _t("license", "pharmacy technician license", "Certified Pharmacy Technician", "CPhT", "PTCB",
       "pharmacy technician"),
    _t("license", "CDL", "commercial driver's license", "commercial drivers license", "commercial driver license",
       "Class A CDL", "Class B CDL", "CDL-A", "CDL-B", "CDL A", "CDL B", "Class A license", "Class B license"),
    _t("license", "driver's license", "drivers license", "driver’s license", "driving license", "driver license",
       "valid license to drive", "licensed driver"),
    _t("license", "teaching license", "teaching certificate", "teaching certification", "teaching credential",
       "teacher certification", "state teaching license", "state certification", "certified teacher",
       "licensed teacher", "educator license", "teaching licence", "single subject credential",
       "multiple subject credential", "PGCE", "QTS"),
    _t("license", "Professional Engineer license", "Professional Engineer", "PE license", "P.E.", "licensed PE",
       "PE licensure", cased=["PE"], patterns=[r"(?<![\w.])PE(?=[\s,)]+(?:license|licensure|certification|preferred|required|a plus|is a plus))"]),
    _t("license", "EIT", "Engineer in Training", "Engineer-in-Training", "FE exam", "Fundamentals of Engineering",
       cased=["EIT", "FE"]),
    _t("license", "CPA", "Certified Public Accountant", "CPA license", "licensed CPA", "CPA eligible",
       "CPA candidate", cased=["CPA"]),
    _t("license", "real estate license", "licensed real estate agent", "real estate salesperson license"),
    _t("license", "insurance license", "Life and Health license", "Property and Casualty license", "P&C license",
       "Series 6", "Series 7", "Series 63", "Series 65", "Series 66", "FINRA"),
    _t("license", "electrician license", "journeyman electrician", "journeyman license", "master electrician",
       "licensed electrician"),
    _t("license", "cosmetology license", "licensed cosmetologist", "cosmetologist"),
    _t("license", "social work license", "LCSW", "LMSW", "licensed clinical social worker"),
    _t("license", "security guard license", "guard card", "security license"),
    # ---- certifications -------------------------------------------------------------------------
    _t("certification", "BLS", "Basic Life Support", "BLS certification", "BLS certified", cased=["BLS"]),
    _t("certification", "ACLS", "Advanced Cardiovascular Life Support", "Advanced Cardiac Life Support",
       cased=["ACLS"]),
    _t("certification", "PALS", "Pediatric Advanced Life Support", cased=["PALS"]),
    _t("certification", "NRP", "Neonatal Resuscitation Program", cased=["NRP"]),
    _t("certification", "TNCC", "Trauma Nursing Core Course", cased=["TNCC"]),
    _t("certification", "CCRN", "critical care registered nurse certification", cased=["CCRN"]),
    _t("certification", "CPR", "CPR/First Aid", "CPR certification", "CPR certified", "First Aid",
       "first aid certification", "AED"),
    _t("certification", "forklift certification", "forklift certified", "forklift license",
       "forklift operator certification", "OSHA forklift", "certified forklift operator", "PIT certification",
       "PIT certified"),
    _t("certification", "OSHA certification", "OSHA 10", "OSHA-10", "OSHA 30", "OSHA-30", "OSHA 10-hour",
       "OSHA 30-hour", "OSHA training", "OSHA certified", parent="safety procedures"),
    _t("certification", "HAZMAT endorsement", "HAZMAT", "hazmat", "tanker endorsement", "TWIC", "doubles/triples"),
    _t("certification", "DOT medical card", "DOT medical certificate", "DOT physical", "medical examiner's certificate"),
    _t("certification", "ServSafe", "ServSafe certification", "food handler's card", "food handlers card",
       "food handler certification", "food safety certification"),
    _t("certification", "AWS certification", "AWS Certified", "AWS Solutions Architect", "AWS Certified Solutions Architect",
       "AWS Certified Developer", "AWS Certified Cloud Practitioner"),
    _t("certification", "Kubernetes certification", "CKA", "CKAD", "Certified Kubernetes Administrator"),
    _t("certification", "Azure certification", "Azure Administrator", "AZ-900", "AZ-104", "Azure Fundamentals"),
    _t("certification", "Google Cloud certification", "Professional Cloud Architect", "GCP certified"),
    _t("certification", "PMP", "Project Management Professional", "PMP certification", "PMP certified", "CAPM",
       cased=["PMP"]),
    _t("certification", "Scrum certification", "Certified ScrumMaster", "Certified Scrum Master", "CSM", "PSM",
       "Scrum Master", cased=["SAFe"]),
    _t("certification", "CISSP", "Certified Information Systems Security Professional", "CISM", "CISA",
       cased=["CISSP", "CISM", "CISA"]),
    _t("certification", "CompTIA A+", "A+ certification", "CompTIA A+ certified", "A+ certified"),
    _t("certification", "CompTIA Network+", "Network+", "Network+ certification"),
    _t("certification", "CompTIA Security+", "Security+", "Security+ certification"),
    _t("certification", "CCNA", "Cisco Certified Network Associate", "CCNP", cased=["CCNA", "CCNP"]),
    _t("certification", "ITIL", "ITIL Foundation", "ITIL v4", "ITIL certification"),
    _t("certification", "CMA", "Certified Management Accountant", cased=["CMA"]),
    _t("certification", "CFA", "Chartered Financial Analyst", "CFA charterholder", "CFA Level", cased=["CFA"]),
    _t("certification", "CIA", "Certified Internal Auditor", cased=["CIA"]),
    _t("certification", "Enrolled Agent", "EA", cased=["EA"]),
    _t("certification", "ACCA", "Chartered Accountant", "ACA", "CIMA", cased=["ACCA", "ACA", "CIMA"]),
    _t("certification", "Six Sigma certification", "Six Sigma", "Six Sigma Green Belt", "Six Sigma Black Belt",
       "Green Belt", "Black Belt", "Lean Six Sigma Green Belt"),
    _t("certification", "CSWA", "Certified SolidWorks Associate", "CSWP", "Certified SolidWorks Professional",
       "SolidWorks certification", cased=["CSWA", "CSWP"]),
    _t("certification", "SHRM-CP", "SHRM-SCP", "PHR", "SPHR", "SHRM certification", cased=["PHR", "SPHR"]),
    _t("certification", "APICS certification", "CSCP", "CPIM", "CLTD", "APICS", "CPSM"),
    _t("certification", "Google Analytics certification", "Google Analytics Certified", "GAIQ",
       "Google Analytics Individual Qualification"),
    _t("certification", "Google Ads certification", "Google Ads Certified", "Google Ads certified"),
    _t("certification", "HubSpot certification", "HubSpot Inbound certification", "HubSpot certified",
       "HubSpot Content Marketing certification"),
    _t("certification", "Salesforce certification", "Salesforce Certified Administrator", "Salesforce Administrator",
       "Salesforce certified"),
    _t("certification", "TEFL/TESOL", "TEFL", "TESOL", "CELTA", "TESL", "ESL certification", "ESL endorsement",
       "ELL endorsement"),
    _t("certification", "Praxis", "Praxis exam", "Praxis II"),
    _t("certification", "Certified Medical Assistant", "CMA (AAMA)", "RMA", "Registered Medical Assistant"),
    _t("certification", "phlebotomy certification", "Certified Phlebotomy Technician", "CPT-1", "phlebotomy certified"),
    _t("certification", "HVAC certification", "EPA 608", "EPA Section 608", "EPA certification", "NATE"),
    _t("certification", "welding certification", "AWS certified welder", "certified welder", "AWS D1.1"),
    _t("certification", "CDCP", "Certified Data Centre Professional"),
    _t("certification", "Tableau certification", "Tableau Desktop Specialist", "Tableau Certified"),
    _t("certification", "Microsoft Office Specialist", "MOS certification", "MOS"),
    _t("certification", "TSA/background check", "background check", "pass a background check", "drug screen",
       "drug test", "security clearance", "clearance"),
]

_LANG = [
    ("English", ["English-speaking", "fluent in English", "English fluency"]),
    ("Spanish", ["Español", "bilingual Spanish", "Spanish-speaking", "Spanish/English", "English/Spanish",
                 "bilingual (English/Spanish)", "bilingual (Spanish/English)", "Castilian"]),
    ("French", ["Français", "francophone"]),
    ("German", ["Deutsch"]),
    ("Mandarin", ["Mandarin Chinese", "Chinese (Mandarin)", "Chinese", "Putonghua"]),
    ("Cantonese", []),
    ("Portuguese", ["Brazilian Portuguese", "Português"]),
    ("Italian", []),
    ("Arabic", []),
    ("Hindi", []),
    ("Urdu", []),
    ("Bengali", []),
    ("Punjabi", []),
    ("Japanese", []),
    ("Korean", []),
    ("Vietnamese", []),
    ("Tagalog", ["Filipino"]),
    ("Russian", []),
    ("Ukrainian", []),
    ("Polish", []),
    ("Dutch", []),
    ("Turkish", []),
    ("Haitian Creole", ["Creole", "Kreyòl"]),
    ("Somali", []),
    ("Swahili", []),
    ("Hebrew", []),
    ("Greek", []),
    ("Farsi", ["Persian"]),
    ("American Sign Language", ["ASL", "sign language"]),
]
TERMS += [_t("language", name, *syn, cased=(name, *syn)) for name, syn in _LANG]

# Occupation families: title/domain words that make a dated role count towards "N years of X".
OCCUPATIONS: dict[str, tuple[str, ...]] = {
    "software": ("software", "developer", "programmer", "backend", "back-end", "frontend", "front-end",
                 "full stack", "full-stack", "fullstack", "web developer", "devops", "site reliability", "SRE",
                 "platform engineer", "application", "applications", "coding", "programming", "engineering team"),
    "data": ("data", "analyst", "analytics", "data scientist", "machine learning", "business intelligence",
             "BI", "statistician", "quantitative"),
    "it": ("IT", "help desk", "helpdesk", "system administrator", "systems administrator", "sysadmin",
           "network", "desktop support", "infrastructure"),
    "nursing": ("nurse", "nursing", "RN", "LPN", "LVN", "CNA", "clinical", "patient", "patients", "hospital",
                "ICU", "med-surg", "medical-surgical", "telemetry", "emergency department", "clinic",
                "healthcare", "health care", "care unit", "ward", "unit"),
    "healthcare": ("medical assistant", "medical", "clinic", "pharmacy", "phlebotomist", "caregiver", "home health",
                   "healthcare", "health care", "patient", "patients"),
    "accounting": ("accountant", "accounting", "bookkeeper", "bookkeeping", "auditor", "audit associate", "controller",
                   "finance", "financial", "payable", "receivable", "tax", "payroll", "CPA", "ledger", "treasury"),
    "sales": ("sales", "account executive", "account manager", "business development", "SDR", "BDR",
              "inside sales", "outside sales", "territory", "quota", "sales representative", "sales rep"),
    "warehouse": ("warehouse", "forklift", "logistics", "distribution", "fulfillment", "fulfilment", "picker",
                  "packer", "shipping", "receiving", "inventory", "material handler", "materials handler",
                  "loader", "stocker", "dock", "order selector", "supply chain", "operations associate"),
    "driving": ("driver", "delivery", "trucking", "truck", "CDL", "courier", "route", "transportation"),
    "teaching": ("teacher", "teaching", "tutor", "instructor", "educator", "classroom", "school", "professor",
                 "lecturer", "students", "student", "paraprofessional", "substitute", "curriculum"),
    "mechanical": ("mechanical", "design engineer", "manufacturing engineer", "product design", "product engineer",
                   "CAD", "mechanical engineer", "engineering", "R&D", "hardware", "drafter", "draftsman"),
    "marketing": ("marketing", "SEO", "content", "brand", "social media", "digital", "campaign", "campaigns",
                  "growth", "communications", "advertising", "copywriter", "PR", "public relations"),
    "support": ("customer service", "customer support", "support", "call center", "contact center", "help desk",
                "helpdesk", "service representative", "client services", "technical support", "customer success",
                "customer care", "representative", "agent"),
    "retail": ("retail", "cashier", "store", "sales associate", "shift supervisor", "merchandiser", "barista",
               "server", "restaurant", "hospitality", "front desk"),
    "hr": ("human resources", "HR", "recruiter", "recruiting", "talent acquisition", "people operations",
           "HR generalist"),
    "management": ("manager", "management", "supervisor", "director", "lead", "head of", "team lead", "managed"),
    "trades": ("electrician", "technician", "mechanic", "maintenance", "HVAC", "welder", "plumber", "carpenter",
               "installer", "machinist", "operator", "assembler", "production"),
}


def _boundary_pattern(surface: str) -> str:
    """Regex for one surface form: flexible spaces/hyphens/apostrophes, word boundaries, plural."""
    parts = []
    for ch in surface:
        if ch == " ":
            parts.append(r"[\s\-]+")
        elif ch in "'’":
            parts.append("['’]?")
        elif ch == "-":
            parts.append(r"[\s\-]?")
        else:
            parts.append(re.escape(ch))
    body = "".join(parts)
    if re.search(r"[a-z]{3}$", surface):
        body += "(?:e?s)?"
    return r"(?<![\w])" + body + r"(?![\w+#])"


@lru_cache(maxsize=None)
def _compiled(term: Term) -> tuple[re.Pattern[str], ...]:
    pats: list[re.Pattern[str]] = []
    insensitive = [s for s in term.synonyms if s not in term.cased]
    if insensitive:
        alts = "|".join(_boundary_pattern(s) for s in sorted(insensitive, key=len, reverse=True))
        pats.append(re.compile(alts, re.IGNORECASE))
    if term.cased:
        exclude = {"MS": r"(?!\s+(?:Office|Excel|Word|SQL|Project|Teams|Access|Dynamics|365))",
                   "MA": r"(?=\s+(?:in|degree|,\s*\w+ing|Education|English|Economics))",
                   "BE": r"(?=\s+in\b)", "IT": r"(?![\w-])", "ER": r"(?!\w)", "ED": r"(?!\w)"}
        alts = "|".join(r"(?<![\w&.])" + re.escape(s) + r"(?![\w+#&])" + exclude.get(s, "") for s in term.cased)
        pats.append(re.compile(alts))
    pats.extend(re.compile(p) for p in term.patterns)
    return tuple(pats)


BY_NAME: dict[str, Term] = {t.canonical: t for t in TERMS}


def _all_matches(term: Term, text: str) -> list[re.Match[str]]:
    """Matches at every start position (overlapping), so a short variant cannot hide a longer one."""
    out = []
    for pat in _compiled(term):
        m = pat.search(text)
        while m:
            if m.end() > m.start():
                out.append(m)
            m = pat.search(text, m.start() + 1)
    return out


def find_terms(text: str, categories: Iterable[str] | None = None) -> list[TermMatch]:
    """Lexicon terms found in `text`, in text order, one (the first) match per term.

    Overlapping matches are resolved longest-first, so "month-end closing" is one term, not also
    "closing", and "lead generation" is prospecting, not leadership.
    """
    return list(_find_terms(text, tuple(sorted(categories)) if categories else None))


_TOKEN_RE = re.compile(r"[\w][\w+#./&'’-]*")
_SUBPART_RE = re.compile(r"[-/.'’]+")


def _keys(word: str) -> set[str]:
    w = word.lower()
    out = {w}
    for part in [w, *(p for p in _SUBPART_RE.split(w) if p)]:
        out.add(part)
        if len(part) > 3 and part.endswith("s"):
            out.add(part[:-1])
            if part.endswith("es"):
                out.add(part[:-2])
    return out


@lru_cache(maxsize=None)
def _index() -> tuple[dict[str, list[Term]], list[Term]]:
    """First-word index of the lexicon: a term is only regex-searched when one of its surface
    forms' first words occurs in the text (terms with custom patterns are always searched)."""
    by_key: dict[str, list[Term]] = {}
    always: list[Term] = []
    for term in TERMS:
        if term.patterns:
            always.append(term)
        keys: set[str] = set()
        for syn in (*term.synonyms, *term.cased):
            first = syn.split()[0].lower()
            parts = [p for p in _SUBPART_RE.split(first) if p]
            k = parts[0] if parts else first
            keys.update({k, k[:-1]} if len(k) > 3 and k.endswith("s") else {k})
        for k in keys:
            by_key.setdefault(k, []).append(term)
    return by_key, always


@lru_cache(maxsize=None)
def _rank() -> dict[int, int]:
    return {id(t): i for i, t in enumerate(TERMS)}


def _candidates(text: str) -> list[Term]:
    """Terms worth searching in `text`, in lexicon order: overlapping matches of equal length are
    resolved by that order, never by set iteration order (which changes with PYTHONHASHSEED)."""
    by_key, always = _index()
    text_keys: set[str] = set()
    for tok in _TOKEN_RE.findall(text):
        text_keys |= _keys(tok)
    found = {id(t): t for t in always}
    for k in text_keys:
        for t in by_key.get(k, ()):
            found.setdefault(id(t), t)
    rank = _rank()
    return sorted(found.values(), key=lambda t: rank[id(t)])


@lru_cache(maxsize=65536)
def _line_matches(line: str) -> tuple[tuple[int, int, Term, str], ...]:
    return tuple((m.start(), m.end(), term, m.group(0)) for term in _candidates(line)
                 for m in _all_matches(term, line))


@lru_cache(maxsize=65536)
def _find_terms(text: str, categories: tuple[str, ...] | None) -> tuple[TermMatch, ...]:
    cats = set(categories) if categories else None
    cands: list[tuple[int, int, Term, str]] = []
    offset = 0
    for line in text.split("\n"):  # terms never span lines; short texts keep the regexes cheap
        cands.extend((s + offset, e + offset, t, surf) for s, e, t, surf in _line_matches(line)
                     if not cats or t.category in cats)
        offset += len(line) + 1
    cands.sort(key=lambda c: (-(c[1] - c[0]), c[0]))
    taken: list[tuple[int, int]] = []
    kept: dict[str, TermMatch] = {}
    for start, end, term, surface in cands:
        if any(start < e and s < end for s, e in taken):
            continue
        taken.append((start, end))
        prev = kept.get(term.canonical)
        if prev is None or start < prev.start:
            kept[term.canonical] = TermMatch(term, start, end, surface)
    return tuple(sorted(kept.values(), key=lambda m: m.start))


def term_occurs(term: Term, text: str) -> re.Match[str] | None:
    """First match of `term` itself in `text`, or None."""
    best = None
    for pat in _compiled(term):
        m = pat.search(text)
        if m and (best is None or m.start() < best.start()):
            best = m
    return best


def ancestors(term: Term) -> list[str]:
    """Canonical names of the term's parent chain (PostgreSQL -> ['SQL'])."""
    out, seen = [], set()
    p = term.parent
    while p and p not in seen:
        out.append(p)
        seen.add(p)
        p = BY_NAME[p].parent if p in BY_NAME else None
    return out


def children(canonical: str) -> list[Term]:
    """Terms whose parent chain contains `canonical`."""
    return [t for t in TERMS if canonical in ancestors(t)]


@lru_cache(maxsize=None)
def _family_patterns() -> dict[str, re.Pattern[str]]:
    out = {}
    for fam, words in OCCUPATIONS.items():
        alts = [("" if (w.isupper() and len(w) <= 4) else "(?i:") + re.escape(w) + ("" if (w.isupper() and len(w) <= 4)
                                                                                   else ")") for w in words]
        out[fam] = re.compile(r"(?<![\w])(?:" + "|".join(alts) + r")(?:e?s)?(?![\w])")
    return out


@lru_cache(maxsize=65536)
def _families(text: str) -> frozenset[str]:
    return frozenset(fam for fam, pat in _family_patterns().items() if pat.search(text))


def occupation_families(text: str) -> set[str]:
    """Occupation families whose title/domain words occur in `text`."""
    return set(_families(text))
