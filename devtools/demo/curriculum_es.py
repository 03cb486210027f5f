"""The demo curriculum in Spanish: each target's statement and its four level descriptors.

Schools provide these per language; the portal and the reports fall back to English where a
Spanish text is missing.
"""

# code -> (statement, {level: descriptor})
TARGETS_ES = {
    "MATH.F1": (
        "Puedo interpretar el valor inicial y la tasa de cambio de una función lineal en contexto.",
        {
            4: "Puedo interpretar el valor inicial y la tasa de cambio en una situación nueva y explicar cómo cambia la situación si cambia cualquiera de los dos.",
            3: "Puedo explicar qué significan el valor inicial y la tasa de cambio en el contexto de un problema, con sus unidades.",
            2: "Puedo encontrar el valor inicial y la tasa de cambio en una ecuación, una tabla o una gráfica, pero todavía no puedo explicarlos en contexto.",
            1: "Con ayuda, puedo señalar el valor inicial o la tasa de cambio en una ecuación sencilla.",
        },
    ),
    "MATH.F2": (
        "Puedo escribir y graficar una función lineal a partir de una tabla, una gráfica o una descripción.",
        {
            4: "Puedo elegir la forma de la función lineal más útil para una situación y justificar mi elección.",
            3: "Puedo escribir y graficar una función lineal a partir de una tabla, una gráfica o una descripción escrita.",
            2: "Puedo escribir una función lineal a partir de una gráfica o una tabla cuando los valores se dan con claridad.",
            1: "Con ayuda, puedo ubicar los puntos de una tabla y unirlos.",
        },
    ),
    "MATH.F3": (
        "Puedo distinguir el crecimiento lineal del exponencial y representar cada uno con una función.",
        {
            4: "Puedo decidir qué modelo se ajusta mejor a datos reales y defender mi decisión con evidencia de los datos.",
            3: "Puedo decir si una situación crece por diferencias iguales o por factores iguales y escribir la función que corresponde.",
            2: "Puedo distinguir el crecimiento lineal del exponencial en una tabla, pero todavía no puedo escribir la función.",
            1: "Con ayuda, puedo describir si una cantidad aumenta o disminuye.",
        },
    ),
    "MATH.E1": (
        "Puedo resolver ecuaciones e inecuaciones lineales de varios pasos y justificar cada paso.",
        {
            4: "Puedo resolver ecuaciones con variables en ambos lados y con parámetros, y explicar por qué cada paso mantiene la ecuación en equilibrio.",
            3: "Puedo resolver ecuaciones e inecuaciones lineales de varios pasos y justificar cada paso con una propiedad.",
            2: "Puedo resolver ecuaciones de dos pasos, pero me equivoco con la propiedad distributiva o con los números negativos.",
            1: "Con ayuda, puedo resolver una ecuación de un solo paso.",
        },
    ),
    "MATH.E2": (
        "Puedo resolver sistemas de ecuaciones lineales y explicar qué significa la solución.",
        {
            4: "Puedo plantear y resolver un sistema a partir de una situación real y juzgar si la solución tiene sentido.",
            3: "Puedo resolver un sistema por gráfica, sustitución o eliminación y explicar qué significa la solución.",
            2: "Puedo resolver un sistema con un método cuando ya está planteado.",
            1: "Con ayuda, puedo comprobar si un punto es solución de una ecuación.",
        },
    ),
    "MATH.G1": (
        "Puedo demostrar que dos triángulos son congruentes usando movimientos rígidos y los criterios LAL, ALA y LLL.",
        {
            4: "Puedo escribir una demostración completa en una figura nueva y explicar por qué un criterio que parece funcionar no sirve.",
            3: "Puedo escribir una demostración lógica de que dos triángulos son congruentes, nombrando el criterio y justificando cada afirmación.",
            2: "Puedo nombrar las partes congruentes de dos triángulos, pero a mi demostración le faltan razones.",
            1: "Con ayuda, puedo emparejar los lados y ángulos correspondientes de dos triángulos.",
        },
    ),
    "MATH.G2": (
        "Puedo usar la semejanza y la trigonometría del triángulo rectángulo para hallar longitudes y ángulos desconocidos.",
        {
            4: "Puedo combinar semejanza y trigonometría para resolver un problema de varios pasos y comprobar si mi respuesta es razonable.",
            3: "Puedo elegir y usar seno, coseno, tangente o triángulos semejantes para hallar una longitud o un ángulo que falta.",
            2: "Puedo usar una razón trigonométrica cuando me dicen cuál usar.",
            1: "Con ayuda, puedo señalar el cateto opuesto, el cateto adyacente y la hipotenusa de un triángulo rectángulo.",
        },
    ),
    "MATH.G3": (
        "Puedo aplicar fórmulas de área y volumen para resolver problemas de diseño.",
        {
            4: "Puedo diseñar un objeto que cumpla ciertas condiciones y justificar sus medidas con cálculos.",
            3: "Puedo aplicar fórmulas de área y volumen para resolver un problema de diseño de varios pasos, con unidades.",
            2: "Puedo hallar el área o el volumen de una sola figura cuando me dan la fórmula.",
            1: "Con ayuda, puedo distinguir el área del volumen.",
        },
    ),
    "MATH.P1": (
        "Puedo construir un argumento válido y analizar el razonamiento de otros.",
        {
            4: "Puedo construir un argumento completo, anticipar contraargumentos y mejorar el razonamiento de un compañero.",
            3: "Puedo justificar mi conclusión con un argumento claro y encontrar el error en el razonamiento de otra persona.",
            2: "Puedo explicar mis pasos, pero todavía no digo por qué funcionan.",
            1: "Con ayuda, puedo describir lo que hice para llegar a una respuesta.",
        },
    ),
    "ENG.R1": (
        "Puedo citar evidencia sólida del texto para apoyar un análisis de lo que el texto dice y lo que sugiere.",
        {
            4: "Puedo comparar varias evidencias y explicar cuál apoya mejor una inferencia, incluido lo que el texto deja sin resolver.",
            3: "Puedo citar evidencia sólida y completa que apoya tanto lo que el texto dice como lo que sugiere.",
            2: "Puedo citar el texto, pero mi evidencia apoya solo en parte lo que quiero decir.",
            1: "Con ayuda, puedo encontrar en el texto una oración relacionada con una pregunta.",
        },
    ),
    "ENG.R2": (
        "Puedo determinar un tema o una idea central y analizar cómo se desarrolla a lo largo del texto.",
        {
            4: "Puedo seguir cómo interactúan dos temas a lo largo de un texto y cómo las decisiones del autor les dan forma.",
            3: "Puedo enunciar un tema y analizar cómo ciertos detalles lo desarrollan y precisan a lo largo del texto.",
            2: "Puedo enunciar un tema, pero resumo en lugar de analizar cómo se desarrolla.",
            1: "Con ayuda, puedo decir de qué trata principalmente el texto.",
        },
    ),
    "ENG.R3": (
        "Puedo analizar cómo la elección de palabras del autor da forma al significado y al tono.",
        {
            4: "Puedo analizar el efecto acumulado de la elección de palabras en un texto y compararlo con el de otro autor.",
            3: "Puedo explicar, con ejemplos, cómo ciertas palabras crean significado y tono.",
            2: "Puedo identificar el lenguaje figurado, pero todavía no explico su efecto.",
            1: "Con ayuda, puedo deducir por el contexto el significado de una palabra desconocida.",
        },
    ),
    "ENG.W1": (
        "Puedo escribir un argumento con una tesis precisa apoyada por un razonamiento válido y evidencia pertinente.",
        {
            4: "Puedo escribir un argumento matizado que responde con justicia a los contraargumentos y anticipa las dudas del lector.",
            3: "Puedo escribir un argumento con una tesis precisa, un razonamiento lógico y evidencia pertinente, y respondo a un contraargumento.",
            2: "Puedo enunciar una tesis y dar razones, pero mi evidencia es escasa o no está bien conectada.",
            1: "Con ayuda, puedo dar una opinión y una razón.",
        },
    ),
    "ENG.W2": (
        "Puedo organizar un escrito con una estructura clara, transiciones y una conclusión que se desprende de él.",
        {
            4: "Puedo elegir una estructura que fortalece mi propósito y variar las transiciones para mostrar relaciones complejas.",
            3: "Puedo organizar las ideas con lógica, con transiciones que unen las partes y una conclusión que se desprende de ellas.",
            2: "Puedo escribir en párrafos, pero a veces el orden de las ideas o las transiciones no están claros.",
            1: "Con ayuda, puedo poner mis ideas en orden.",
        },
    ),
    "ENG.W3": (
        "Puedo reunir información pertinente de varias fuentes e integrarla sin plagiar.",
        {
            4: "Puedo evaluar la credibilidad de las fuentes y sintetizar con mis propias palabras información que se contradice.",
            3: "Puedo integrar información de varias fuentes confiables, citando y parafraseando con referencias.",
            2: "Puedo usar información de una fuente, pero dependo de una sola fuente o cito de manera irregular.",
            1: "Con ayuda, puedo encontrar una fuente sobre mi tema.",
        },
    ),
    "ENG.S1": (
        "Puedo prepararme para una conversación y participar en ella, construyendo sobre las ideas de otros y expresando las mías con claridad.",
        {
            4: "Puedo hacer avanzar una conversación con preguntas que conectan ideas y resumiendo en qué se coincide y en qué no.",
            3: "Puedo venir preparado, referirme a la evidencia, construir sobre las ideas de otros y expresar las mías con claridad.",
            2: "Puedo compartir mis ideas, pero todavía no respondo ni construyo sobre lo que dicen otros.",
            1: "Con ayuda, puedo compartir una idea en un grupo pequeño.",
        },
    ),
    "SCI.L1": (
        "Puedo explicar cómo la estructura del ADN determina la estructura de las proteínas y sus funciones.",
        {
            4: "Puedo predecir cómo una mutación específica afecta a una proteína y al organismo, y justificar mi predicción.",
            3: "Puedo explicar cómo la secuencia del ADN determina la estructura de las proteínas, que hacen el trabajo de las células.",
            2: "Puedo describir el ADN y las proteínas, pero todavía no puedo relacionar la secuencia con la función de la proteína.",
            1: "Con ayuda, puedo nombrar las partes de una molécula de ADN.",
        },
    ),
    "SCI.L2": (
        "Puedo usar un modelo para mostrar cómo circulan la materia y la energía en un ecosistema.",
        {
            4: "Puedo usar un modelo para predecir cómo un cambio en una población repercute en el flujo de energía de un ecosistema.",
            3: "Puedo usar un modelo para explicar cómo circula la materia y fluye la energía entre niveles tróficos, con la regla del 10 %.",
            2: "Puedo dibujar una red alimentaria, pero todavía no explico el flujo de energía.",
            1: "Con ayuda, puedo clasificar organismos en productores y consumidores.",
        },
    ),
    "SCI.L3": (
        "Puedo explicar, con evidencia, cómo la selección natural lleva a la adaptación.",
        {
            4: "Puedo evaluar explicaciones opuestas sobre la difusión de un rasgo y defender una con datos.",
            3: "Puedo construir una explicación, basada en evidencia, de cómo la selección natural lleva a la adaptación de una población.",
            2: "Puedo describir la selección natural, pero mi explicación la confunde con el cambio de un individuo.",
            1: "Con ayuda, puedo dar un ejemplo de una adaptación.",
        },
    ),
    "SCI.P1": (
        "Puedo usar la tabla periódica para predecir las propiedades de los elementos a partir de sus electrones externos.",
        {
            4: "Puedo explicar una excepción a una tendencia periódica usando la estructura electrónica.",
            3: "Puedo predecir propiedades relativas de los elementos según su posición y sus electrones externos.",
            2: "Puedo leer información de la tabla periódica, pero todavía no puedo usar sus patrones para predecir.",
            1: "Con ayuda, puedo encontrar el símbolo y el número atómico de un elemento.",
        },
    ),
    "SCI.P2": (
        "Puedo usar representaciones matemáticas para mostrar que la masa se conserva en una reacción química.",
        {
            4: "Puedo resolver problemas de estequiometría de varios pasos, incluido un reactivo limitante, y explicar el resultado.",
            3: "Puedo balancear ecuaciones y usar relaciones molares para mostrar que se conservan los átomos y la masa.",
            2: "Puedo balancear ecuaciones sencillas, pero todavía no puedo relacionarlas con la masa.",
            1: "Con ayuda, puedo contar los átomos a cada lado de una ecuación.",
        },
    ),
    "SCI.P3": (
        "Puedo explicar cómo un cambio de temperatura o de concentración afecta la velocidad de una reacción.",
        {
            4: "Puedo diseñar un experimento que aísle un factor y explicar los resultados con la teoría de colisiones.",
            3: "Puedo explicar, con la teoría de colisiones, cómo la temperatura y la concentración cambian la velocidad de reacción.",
            2: "Puedo decir que el calor acelera las reacciones, pero todavía no explico por qué.",
            1: "Con ayuda, puedo distinguir una reacción rápida de una lenta.",
        },
    ),
    "SCI.I1": (
        "Puedo planificar y llevar a cabo una investigación y analizar los datos para apoyar una afirmación.",
        {
            4: "Puedo mejorar el diseño de una investigación después de analizar sus límites y las fuentes de error.",
            3: "Puedo planificar una investigación con variables controladas, reunir datos y usarlos para apoyar una afirmación.",
            2: "Puedo seguir un procedimiento y anotar datos, pero mi afirmación todavía no se desprende de los datos.",
            1: "Con ayuda, puedo seguir los pasos de un laboratorio y anotar observaciones.",
        },
    ),
    "HIST.H1": (
        "Puedo analizar el autor, el propósito, el público y el punto de vista de una fuente primaria.",
        {
            4: "Puedo comparar las perspectivas de varias fuentes y explicar cómo su contexto determina lo que cada una omite.",
            3: "Puedo analizar cómo el autor, el propósito, el público y el contexto de una fuente dan forma a su punto de vista.",
            2: "Puedo identificar el autor y el propósito de una fuente, pero todavía no explico cómo la moldean.",
            1: "Con ayuda, puedo distinguir una fuente primaria de una secundaria.",
        },
    ),
    "HIST.H2": (
        "Puedo explicar las causas y las consecuencias de hechos históricos y evaluar su importancia.",
        {
            4: "Puedo argumentar qué causas fueron las más importantes y explicar en qué han discrepado los historiadores.",
            3: "Puedo explicar varias causas y consecuencias de un hecho y evaluar su importancia relativa.",
            2: "Puedo enumerar causas y consecuencias, pero todavía no las relaciono ni las comparo.",
            1: "Con ayuda, puedo ordenar hechos en el tiempo.",
        },
    ),
    "HIST.H3": (
        "Puedo explicar la continuidad y el cambio a lo largo del tiempo, con evidencia específica.",
        {
            4: "Puedo explicar por qué algunas cosas cambiaron y otras no, entre regiones o períodos.",
            3: "Puedo describir qué cambió y qué siguió igual durante un período, con evidencia específica.",
            2: "Puedo describir un cambio, pero todavía no lo apoyo con evidencia específica.",
            1: "Con ayuda, puedo describir la vida en un momento dado.",
        },
    ),
    "HIST.C1": (
        "Puedo escribir un argumento histórico apoyado en evidencia de varias fuentes.",
        {
            4: "Puedo escribir un argumento histórico que reconoce las fortalezas y los límites de mi evidencia y responde a contraargumentos.",
            3: "Puedo escribir un argumento con una tesis clara, apoyada en evidencia de varias fuentes, con referencias.",
            2: "Puedo plantear una tesis con algo de evidencia, pero la evidencia viene de una sola fuente o está poco conectada.",
            1: "Con ayuda, puedo dar una opinión sobre una pregunta histórica.",
        },
    ),
    "HIST.C2": (
        "Puedo explicar cómo han cambiado con el tiempo los principios constitucionales y los derechos de los ciudadanos.",
        {
            4: "Puedo evaluar cómo los fallos judiciales y los movimientos sociales transformaron un principio constitucional, y argumentar sobre su futuro.",
            3: "Puedo explicar, con ejemplos, cómo se disputó y cambió un principio o un derecho constitucional.",
            2: "Puedo nombrar principios constitucionales, pero todavía no explico cómo cambiaron.",
            1: "Con ayuda, puedo nombrar un derecho de la Carta de Derechos.",
        },
    ),
}
