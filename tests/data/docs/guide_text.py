"""The text of the test guide (tests/data/docs/community-energy-guide.pdf), written for these tests.

A fictional practice guide on municipal support for community energy cooperatives: the towns, funds and figures are
invented (no real city's practice is described), so nothing here can be mistaken for a sourced RRR record.
Each chapter is a list of sections; each section starts on a new page of the PDF.
"""

TITLE = "Municipal Support for Community Energy Cooperatives: A Practice Guide"

CHAPTERS: list[tuple[str, list[tuple[str, list[str]]]]] = [
    ("1 Introduction", [
        ("Why community energy matters to cities", [
            "Community energy cooperatives are enterprises owned by the people who live near the installations "
            "they run. Residents buy shares, elect a board and decide together how the surplus is used. For a "
            "municipality they are partners of a particular kind: they bring private savings and volunteer time to "
            "public goals such as lower emissions, lower bills and local jobs.",
            "This guide collects what the working group of the fictional Valmora region learned while helping "
            "twelve cooperatives start between 2015 and 2023. It is written for municipal officers who have no "
            "energy background and want to know which levers a city really holds.",
            "The guide does not promote one model. Some towns lease roofs, others guarantee loans, others buy "
            "the power. What they share is a long-term relationship with citizens who carry part of the risk.",
        ]),
        ("How to use this guide", [
            "Each chapter answers one question a city usually asks in the order it asks it: what legal form to "
            "support, how to share decisions, how to pay for the first installation, where to build, whom to sell "
            "to, how to reach households in energy poverty, how to train local workers and how to measure results.",
            "Short examples from the towns of Valmora, Ostrenz and Lamarca illustrate each lever. Figures are "
            "rounded. A checklist and a glossary close the guide.",
            "Readers in a hurry can start with chapter 4 on financing and chapter 10 on risks, which are the "
            "parts most often requested by city councils before a vote.",
        ]),
    ]),
    ("2 Legal Forms", [
        ("Choosing a legal form", [
            "The cooperative is the most common form because it fixes democratic control in its statutes: one "
            "member, one vote, whatever the number of shares held. Community benefit societies and multi-"
            "stakeholder cooperatives are alternatives where national law allows them.",
            "A multi-stakeholder cooperative lets the municipality, local firms and residents sit in separate "
            "colleges with agreed weights. Ostrenz chose this form in 2017 so that the town could hold 20 percent "
            "of the votes without controlling the enterprise.",
            "Associations are simple to create but cannot easily raise share capital, so they suit the "
            "awareness phase better than the investment phase.",
        ]),
        ("Statutes and membership rules", [
            "Statutes should state the minimum share, usually between 50 and 250 euros, and a cap on the shares "
            "one member may hold, so that no investor can buy control. Valmora's cooperative set its share at 100 "
            "euros and capped holdings at 20,000 euros per member.",
            "Interest on shares should be limited; many cooperatives pay between 1 and 3 percent a year and "
            "reinvest the rest. A clause on withdrawal protects liquidity: members may leave after three years "
            "with six months' notice.",
            "A model set of statutes reviewed by a lawyer saves each new group several months. The regional "
            "federation publishes one and updates it when the law changes.",
        ]),
    ]),
    ("3 Governance", [
        ("One member, one vote", [
            "Democratic control is what distinguishes a cooperative from an ordinary company that sells green "
            "electricity. General assemblies approve the accounts, elect the board and vote on new projects.",
            "Turnout is a real difficulty. Lamarca's cooperative raised attendance from 8 to 31 percent of "
            "members by holding its assembly on a Saturday morning at the primary school, with childcare and a "
            "site visit of the new solar roof.",
            "Online voting helps members who moved away but should not replace the yearly meeting in person, "
            "where new volunteers are recruited.",
        ]),
        ("A seat for the municipality", [
            "Cities often ask for a seat on the board in exchange for their support. A seat gives information "
            "early but also exposes the city to conflicts of interest when it later buys power or grants permits.",
            "The working group recommends an observer seat without a vote, combined with a yearly public report. "
            "Ostrenz kept a voting seat but wrote a conflict-of-interest rule: its representative leaves the room "
            "whenever the board discusses a contract with the town.",
            "Whatever the choice, it should be written into the cooperation agreement and reviewed after each "
            "municipal election.",
        ]),
    ]),
    ("4 Financing", [
        ("Member shares and community bonds", [
            "Most cooperatives finance their first installation with member shares. A share offer of six weeks, "
            "announced through schools, sports clubs and the local paper, typically raises between 150,000 and "
            "400,000 euros in a town of 20,000 people.",
            "Community bonds are fixed-term loans from residents, repaid with interest over five to ten years. "
            "They suit members who want their money back at a known date. Lamarca issued bonds of 500 euros at "
            "2.5 percent over seven years and sold them out in nine days.",
            "Both instruments need a clear prospectus in plain language. Regulators in several countries exempt "
            "small cooperative offers from the full prospectus rules below a threshold.",
        ]),
        ("The revolving loan fund", [
            "A revolving loan fund lends money to young cooperatives for the gap between the first share offer "
            "and the first income from selling power. As the loans are repaid, the money is lent again to the "
            "next group.",
            "The Valmora region created its revolving loan fund in 2016 with 1.2 million euros from the regional "
            "budget. The fund lent to 14 cooperatives at 2 percent interest over a maximum of eight years. By 2023 "
            "every loan had been repaid on time or early, and the fund had lent its capital almost twice over.",
            "The fund asks each borrower for a business plan reviewed by a volunteer engineer and for a share "
            "offer that has raised at least 30 percent of the project cost. This condition keeps the cooperatives "
            "rooted in their community: the fund never finances a project that residents do not back.",
            "Setting up such a fund takes a partner that can manage loans. Valmora entrusted the management to an "
            "ethical bank for a fee of 0.5 percent a year, which kept the fund's own staff to one part-time post.",
        ]),
        ("Guarantees and grants", [
            "A municipal guarantee lets a cooperative borrow from a commercial bank at a lower rate. Ostrenz "
            "guaranteed 60 percent of a 700,000 euro loan for a wind turbine; the town never had to pay, and the "
            "guarantee cost it nothing but a line in its accounts.",
            "Grants are best kept for the early, risky work that banks will not fund: feasibility studies, "
            "legal advice and the first share offer campaign. A grant of 15,000 to 30,000 euros at this stage "
            "often unlocks ten times as much private money later.",
            "Grants for the installation itself can crowd out members' savings and should be used sparingly.",
        ]),
        ("Crowdfunding platforms", [
            "Specialised crowdfunding platforms let cooperatives reach investors beyond their town. They charge "
            "a fee of 3 to 6 percent of the amount raised and handle payments and investor information.",
            "The working group advises using them only after the local share offer, so that local members keep "
            "the majority of votes and the platform's investors hold bonds rather than shares.",
        ]),
    ]),
    ("5 Sites and Permits", [
        ("Leasing public roofs", [
            "Public buildings are ideal first sites: schools, sports halls and depots have large flat roofs, a "
            "single owner and daytime consumption. A roof lease gives the cooperative the right to install and "
            "run panels for a fixed period.",
            "Lamarca leases the roofs of four schools to its cooperative for 20 years at a symbolic rent of one "
            "euro a year. In return the schools receive the electricity at a price 15 percent below the market "
            "and an educational programme on energy for pupils.",
            "The lease should cover roof repairs: who removes and reinstalls the panels when the roof is "
            "renovated, and who pays. A structural survey before signing avoids surprises.",
        ]),
        ("Permits and one-stop shops", [
            "Cooperatives run by volunteers struggle with permits that professional developers handle routinely. "
            "A municipal one-stop shop assigns one officer to each project and coordinates planning, heritage and "
            "grid connection requests.",
            "After opening its one-stop shop in 2019, Ostrenz cut the average time from application to permit "
            "for rooftop installations from seven months to ten weeks.",
        ]),
    ]),
    ("6 Selling the Power", [
        ("Self-consumption and energy communities", [
            "Where the law allows collective self-consumption, neighbours can share the output of one "
            "installation through the public grid. The cooperative becomes the organiser of a local energy "
            "community and members see the shared kilowatt-hours on their bills.",
            "Valmora's first energy community linked a school roof to 85 households within 500 metres. Members "
            "saved on average 110 euros a year on their bills.",
        ]),
        ("Power purchase agreements with the city", [
            "A power purchase agreement is a long contract in which the municipality buys the cooperative's "
            "electricity at an agreed price. It gives the cooperative the secure income that banks want to see.",
            "Ostrenz signed a 15-year agreement for the output of its wind turbine at a fixed price, indexed to "
            "inflation, slightly below the price it paid its former supplier.",
            "Public procurement rules apply. Cities have used the social and environmental clauses of "
            "procurement law, or bought the power through a framework agreement open to all local generators.",
        ]),
    ]),
    ("7 Energy Poverty", [
        ("Solidarity tariffs and donated shares", [
            "Community energy can widen the gap between households that can invest and those that cannot. "
            "Cooperatives in the network have answered with three tools.",
            "First, a solidarity tariff: a lower price for members referred by the social services. Second, "
            "donated shares: members give part of their yearly interest to a fund that buys shares for "
            "low-income households. Third, shares paid in instalments of five euros a month.",
            "In Lamarca, 140 low-income households became members through donated shares between 2019 and 2022.",
        ]),
        ("Home energy advice", [
            "Trained volunteers visit households to explain bills, check the heating and install cheap savings "
            "such as draught strips and efficient bulbs. Each visit takes about two hours.",
            "The cooperative of Valmora made 600 visits in 2022 with 25 volunteers; the households visited "
            "reduced their consumption by 9 percent on average in the following year.",
        ]),
    ]),
    ("8 Skills and Jobs", [
        ("Training local installers", [
            "Cooperatives create few jobs directly but many through installation and maintenance work. Cities "
            "can make sure this work goes to local people by linking projects to training programmes.",
            "Ostrenz's vocational school added a six-month solar installer course in 2020. Each cohort of 12 "
            "trainees completes its practical work on the cooperative's roofs.",
        ]),
        ("Work integration enterprises", [
            "Work integration social enterprises employ people who have been out of work for a long time and "
            "train them on the job. Several now install and clean solar panels for cooperatives.",
            "In Valmora, a work integration enterprise signed a maintenance contract with the cooperative in "
            "2021; of the 18 people it trained by 2023, 11 found permanent jobs.",
        ]),
    ]),
    ("9 Measuring Impact", [
        ("Indicators that councils ask for", [
            "Councils want a short set of indicators they can compare year to year: megawatt-hours produced, "
            "tonnes of carbon dioxide avoided, number of members, share of members from low-income households, "
            "money kept in the local economy and volunteer hours.",
            "The working group recommends no more than eight indicators, collected once a year from the "
            "cooperative's own accounts and meter readings, so that volunteers are not buried in reporting.",
        ]),
        ("Reporting to citizens", [
            "A yearly public report, one page long, builds trust beyond the members. Lamarca prints its report "
            "on the back of the municipal magazine and presents it at the general assembly.",
            "The report should say what went wrong as well as what went well: a delayed connection or a "
            "broken inverter explained openly does less harm than silence.",
        ]),
    ]),
    ("10 Risks and Lessons", [
        ("Common risks", [
            "Three risks recur. Grid connection delays can postpone income by a year or more. Volunteer fatigue "
            "sets in after the first installation, when the exciting phase is over. And changes to national "
            "support schemes can turn a sound business plan into a loss.",
            "Cooperatives that survived these shocks had a cash reserve of at least six months of costs, a "
            "second generation of board members trained before the first stepped down, and contracts with the "
            "municipality that did not depend on national subsidies.",
        ]),
        ("Lessons for municipalities", [
            "The most useful support was rarely money. Officers named three things: a single contact person in "
            "the town hall, public roofs offered early, and a long-term purchase agreement.",
            "Cities should also accept a slower pace than a commercial developer would offer. Building a "
            "member base takes time, and that time is what makes the project belong to the town.",
        ]),
    ]),
    ("11 Annexes", [
        ("Checklist for a first project", [
            "Before the council vote: identify two or three public roofs, name a contact officer, agree the "
            "form of support (lease, guarantee, purchase agreement) and its duration.",
            "Before the share offer: statutes adopted, business plan reviewed, prospectus written in plain "
            "language, grid connection request filed.",
            "After commissioning: yearly report, assembly, review of the cooperation agreement every three years.",
        ]),
        ("Glossary", [
            "Cooperative: an enterprise owned and democratically controlled by its members. Community bond: a "
            "fixed-term loan from residents to a community enterprise. Power purchase agreement: a long-term "
            "contract to buy electricity at an agreed price.",
            "Revolving loan fund: a fund whose repaid loans are lent again. Solidarity tariff: a reduced price "
            "for households in difficulty. Energy community: a group that produces and shares energy locally.",
        ]),
    ]),
]
