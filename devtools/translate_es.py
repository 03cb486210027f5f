"""Fill mastery/locale/es/LC_MESSAGES/django.po from the table below, then compile it.

Run after `manage.py makemessages -l es`:  python devtools/translate_es.py
The table is the source of the Spanish translations of what families and students read (the
portal, the progress report, the invitation, logging in); entries already translated in the .po
file by hand are kept.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

PO = (
    Path(__file__).resolve().parent.parent
    / "mastery"
    / "locale"
    / "es"
    / "LC_MESSAGES"
    / "django.po"
)

SINGLE = {
    # Layout, logging in, errors
    "Mastery gradebook": "Libreta de calificaciones por dominio",
    "Skip to content": "Ir al contenido",
    "Main": "Principal",
    "Home": "Inicio",
    "Intervention": "Intervención",
    "Grading policy": "Política de calificación",
    "Log in": "Iniciar sesión",
    "Log out": "Cerrar sesión",
    "Email": "Correo electrónico",
    "Levels show where a student is now, not an average of early attempts.": "Los niveles muestran dónde está el estudiante ahora, no un promedio de los primeros intentos.",
    "Teachers, counselors, families and students all log in here with their email.": "Docentes, consejeros, familias y estudiantes inician sesión aquí con su correo electrónico.",
    "That email and password do not match an account. Check both and try again.": "Ese correo y esa contraseña no corresponden a ninguna cuenta. Revise los dos e inténtelo de nuevo.",
    "Too many failed attempts. Wait a few minutes, or reset your password.": "Demasiados intentos fallidos. Espere unos minutos o restablezca su contraseña.",
    "Forgot your password?": "¿Olvidó su contraseña?",
    # District sign-in (mastery.sso): students and staff read it, many of them in Spanish
    "Sign in with your district account": "Iniciar sesión con la cuenta de su distrito",
    "Sign in with your district": "Iniciar sesión con su distrito",
    "%(name)s signs its staff and students in with its own accounts.": "%(name)s permite que su personal y sus estudiantes inicien sesión con las cuentas del distrito.",
    "Your district signs you in with its own account.": "Su distrito le permite iniciar sesión con la cuenta del distrito.",
    "Continue with %(name)s": "Continuar con %(name)s",
    "No district signs in people with that email address here. Log in with your email and password instead, or ask your school.": "Ningún distrito inicia sesión aquí con esa dirección de correo. Inicie sesión con su correo y contraseña, o pregunte en su escuela.",
    "Your school email": "Su correo electrónico de la escuela",
    "Find my district's sign-in": "Buscar el inicio de sesión de mi distrito",
    "Log in with your email and password": "Iniciar sesión con su correo y contraseña",
    "Sign-in refused": "Inicio de sesión rechazado",
    "You could not be signed in": "No se pudo iniciar su sesión",
    "Your district's sign-in worked, but it does not open an account here:": "El inicio de sesión de su distrito funcionó, pero no abre una cuenta aquí:",
    "Nothing was changed. If you think this is wrong, ask your school's office or your district's IT.": "No se cambió nada. Si cree que es un error, pregunte en la oficina de su escuela o al equipo de tecnología de su distrito.",
    "Back to logging in": "Volver a iniciar sesión",
    "Signing in with your district did not go through:": "El inicio de sesión con su distrito no se completó:",
    "it was cancelled at your district's sign-in page": "se canceló en la página de inicio de sesión de su distrito",
    "it could not be completed (it may have expired, or been started in another window). Start again from the login page": "no se pudo completar (puede haber vencido o haberse iniciado en otra ventana). Vuelva a empezar desde la página de inicio de sesión",
    "no account is made by signing in": "iniciar sesión no crea ninguna cuenta",
    "the district's provider did not send a persistent identifier for you. Tell your district's IT": "el proveedor del distrito no envió un identificador permanente para usted. Avise al departamento de informática de su distrito",
    "your district's sign-in could not be reached. Try again in a moment; if it keeps failing, tell your district's IT": "no se pudo contactar con el inicio de sesión de su distrito. Inténtelo de nuevo en un momento; si sigue fallando, avise al departamento de informática de su distrito",
    "this sign-in is no longer in use": "este inicio de sesión ya no está en uso",
    "a district sign-in only signs in": "el inicio de sesión del distrito solo sirve para iniciar sesión",
    "the token was not issued by the district's provider": "la credencial no la emitió el proveedor del distrito",
    "the token does not answer this sign-in": "la credencial no corresponde a este inicio de sesión",
    "the account is not in the district's Google Workspace": "la cuenta no pertenece al Google Workspace del distrito",
    "the account is not in the district's Microsoft tenant": "la cuenta no pertenece al inquilino de Microsoft del distrito",
    "the provider did not vouch for an email address": "el proveedor no confirmó una dirección de correo",
    "the email address is not in one of the district's domains": "la dirección de correo no está en uno de los dominios del distrito",
    "no account of the district has this email address": "ninguna cuenta del distrito tiene esta dirección de correo",
    "this account is already linked to another identity of the district's provider": "esta cuenta ya está vinculada a otra identidad del proveedor del distrito",
    "this account is turned off": "esta cuenta está desactivada",
    "site administrators sign in with their password": "los administradores del sitio inician sesión con su contraseña",
    "this account belongs to a person in another district too": "esta cuenta también pertenece a una persona de otro distrito",
    "families sign in with their own email and password, not the district's sign-in": "las familias inician sesión con su propio correo y contraseña, no con el inicio de sesión del distrito",
    "this account is not one of the district's staff or students": "esta cuenta no es del personal ni de los estudiantes del distrito",
    "You are logged out": "Cerró la sesión",
    "Log in again": "Iniciar sesión de nuevo",
    "Reset your password": "Restablecer la contraseña",
    "Enter the email you log in with. We will send a link to choose a new password.": "Escriba el correo con el que inicia sesión. Le enviaremos un enlace para elegir una contraseña nueva.",
    "Send the link": "Enviar el enlace",
    "Check your email": "Revise su correo",
    "If an account uses that address, a link to choose a new password is on its way. It works for a limited time.": "Si una cuenta usa esa dirección, le llegará un enlace para elegir una contraseña nueva. Funciona por tiempo limitado.",
    "Back to log in": "Volver a iniciar sesión",
    "Choose a new password": "Elija una contraseña nueva",
    "New password": "Contraseña nueva",
    "The same password again": "La misma contraseña otra vez",
    "Save the password": "Guardar la contraseña",
    "This link has expired": "Este enlace ya no es válido",
    "Links work once and for a limited time.": "Los enlaces funcionan una sola vez y por tiempo limitado.",
    "Ask for a new link": "Pedir un enlace nuevo",
    "Your password is saved": "Su contraseña quedó guardada",
    "Someone asked to reset the password of your Mastery gradebook account.": "Alguien pidió restablecer la contraseña de su cuenta de la libreta de calificaciones.",
    "Choose a new password here:": "Elija una contraseña nueva aquí:",
    "If it was not you, ignore this email: your password stays as it is.": "Si no fue usted, ignore este correo: su contraseña sigue igual.",
    "Reset your Mastery gradebook password": "Restablezca su contraseña de la libreta de calificaciones",
    "At least 8 characters; not only numbers; not a common password.": "Al menos 8 caracteres; no solo números; no una contraseña común.",
    "Not allowed": "Sin permiso",
    "This page is not part of your role": "Esta página no corresponde a su función",
    "Your account can't open this page. If you think it should, ask your school's administrator.": "Su cuenta no puede abrir esta página. Si cree que debería poder, consulte a la administración de la escuela.",
    "Go to your home page": "Ir a su página de inicio",
    "Not found": "No encontrado",
    "We couldn't find that page": "No encontramos esa página",
    "It may have moved, or it belongs to a school you are not part of.": "Puede que se haya movido, o que pertenezca a una escuela de la que usted no forma parte.",
    "Your schools": "Sus escuelas",
    "Your account is not part of a school yet. Ask your school's administrator to add you.": "Su cuenta todavía no pertenece a ninguna escuela. Pida a la administración de la escuela que la agregue.",
    "Welcome, %(name)s": "Bienvenido/a, %(name)s",
    "Your children": "Sus hijos",
    "My progress": "Mi progreso",
    "See where I am on each learning target": "Ver en qué nivel estoy en cada objetivo de aprendizaje",
    "Learning targets": "Objetivos de aprendizaje",
    "Learning target": "Objetivo de aprendizaje",
    "Language": "Idioma",
    "English": "Inglés",
    "Spanish": "Español",
    # Portal
    "My children": "Mis hijos",
    "See progress": "Ver el progreso",
    "No child is linked to your account yet. Ask the school for an invitation.": "Todavía no hay ningún hijo o hija vinculado a su cuenta. Pida una invitación a la escuela.",
    "Grade %(grade)s": "Grado %(grade)s",
    "%(mastered)s of %(total)s learning targets mastered so far.": "%(mastered)s de %(total)s objetivos de aprendizaje dominados hasta ahora.",
    "Progress report": "Informe de progreso",
    "Every course and learning target on one report, ready to print.": "Todas las materias y objetivos de aprendizaje en un solo informe, listo para imprimir.",
    "Download the PDF": "Descargar el PDF",
    "Read it here": "Leerlo aquí",
    "In another language:": "En otro idioma:",
    "Course grade": "Calificación de la materia",
    "%(mastered)s of %(total)s learning targets mastered: see each one": "%(mastered)s de %(total)s objetivos de aprendizaje dominados: ver cada uno",
    "No level yet": "Todavía sin nivel",
    "mastered": "dominado",
    "Now": "Ahora",
    "Next step, to reach %(level)s": "Próximo paso, para llegar a %(level)s",
    "Next step": "Próximo paso",
    "Teacher's feedback": "Comentario del docente",
    "My goal": "Mi meta",
    "My goals": "Mis metas",
    "Save my goal": "Guardar mi meta",
    "I reached it": "Ya la logré",
    "No goal yet. Pick a target and write what you will do.": "Todavía no tienes metas. Elige un objetivo y escribe qué vas a hacer.",
    "e.g. Redo the practice set and ask for a retake by Friday": "p. ej., rehacer la práctica y pedir otra evaluación antes del viernes",
    "Your goal is saved. Your teacher can see it.": "Tu meta quedó guardada. Tu docente puede verla.",
    "Well done! The goal is marked as reached.": "¡Muy bien! La meta quedó marcada como lograda.",
    "This page is for students.": "Esta página es para estudiantes.",
    "Chances to show it again": "Oportunidades para demostrarlo otra vez",
    "These targets are not mastered yet. After more practice, students can ask their teacher for a reassessment.": "Estos objetivos todavía no están dominados. Después de practicar más, el estudiante puede pedir a su docente una nueva evaluación.",
    "Every target with evidence is mastered.": "Todos los objetivos con evidencia están dominados.",
    "Requests waiting for the teacher:": "Solicitudes pendientes con el docente:",
    "Reassessments scheduled:": "Nuevas evaluaciones programadas:",
    "Latest work": "Trabajos recientes",
    "Extra help (intervention)": "Apoyo adicional (intervención)",
    "waiting for a place": "en lista de espera",
    "Habits of work": "Hábitos de trabajo",
    "Effort, participation and practice, on their own scale: 1 rarely, 2 sometimes, 3 usually, 4 consistently. They do not change any level or grade.": "Esfuerzo, participación y práctica, en su propia escala: 1 casi nunca, 2 a veces, 3 casi siempre, 4 siempre. No cambian ningún nivel ni calificación.",
    "Effort, participation and practice, on their own scale: 1 rarely, 2 sometimes, 3 usually, 4 consistently. They do not change any level or grade above.": "Esfuerzo, participación y práctica, en su propia escala: 1 casi nunca, 2 a veces, 3 casi siempre, 4 siempre. No cambian ningún nivel ni calificación de las secciones anteriores.",
    "Effort": "Esfuerzo",
    "Participation": "Participación",
    "Practice": "Práctica",
    "No courses this term yet.": "Todavía no hay materias en este período.",
    "Student number": "Número de estudiante",
    "Cycle %(n)s": "Ciclo %(n)s",
    # The report
    "How to read this report": "Cómo leer este informe",
    "Each course is broken into learning targets, skills your child is working to master. Each target shows the level reached now, not an average of early attempts: students can show it again after more practice.": "Cada materia se divide en objetivos de aprendizaje: habilidades que su hijo o hija está trabajando para dominar. Cada objetivo muestra el nivel alcanzado ahora, no un promedio de los primeros intentos: el estudiante puede demostrarlo otra vez después de practicar más.",
    "Mastery is level 3 or above. “Next step” says what the next level looks like.": "El dominio es el nivel 3 o más. «Próximo paso» describe cómo es el nivel siguiente.",
    "as of": "al",
    "generated": "generado el",
    "Page": "Página",
    "of": "de",
    "Back": "Volver",
    "%(mastered)s of %(total)s learning targets mastered.": "%(mastered)s de %(total)s objetivos de aprendizaje dominados.",
    "The highest level is reached; keep it up.": "Alcanzó el nivel más alto; ¡siga así!",
    "Scores over time": "Puntajes a lo largo del tiempo",
    "On intervention days, students who have not yet mastered a target get re-teaching in a small group; students who have get enrichment.": "Los días de intervención, los estudiantes que todavía no dominan un objetivo reciben enseñanza adicional en un grupo pequeño; los que ya lo dominan reciben actividades de ampliación.",
    "Cycle": "Ciclo",
    "Day": "Día",
    "Focus": "Enfoque",
    "Teacher": "Docente",
    "Result": "Resultado",
    "Course": "Materia",
    "Enrichment": "Ampliación",
    "No evidence yet.": "Todavía no hay evidencia.",
    "No course grade yet: no learning target has enough evidence.": "Todavía no hay calificación de la materia: ningún objetivo tiene suficiente evidencia.",
    "the most recent score": "el puntaje más reciente",
    "the highest score": "el puntaje más alto",
    "the average of the scores": "el promedio de los puntajes",
    "a decaying average (each new score counts %(weight)s%%)": "un promedio ponderado decreciente (cada puntaje nuevo cuenta un %(weight)s%%)",
    "a weighted average (the newest score counts %(weight)s%%)": "un promedio ponderado (el puntaje más reciente cuenta un %(weight)s%%)",
    "the average of the scores at mastery, once mastery is shown %(n)s times": "el promedio de los puntajes de dominio, una vez demostrado el dominio %(n)s veces",
    "the trend of the scores (power law)": "la tendencia de los puntajes (ley de potencia)",
    "the most frequent score": "el puntaje más frecuente",
    "the median score": "la mediana de los puntajes",
    # How a level was reached, in a parent's words (the method's name is one tap away)
    "How is it calculated?": "¿Cómo se calcula?",
    "%(basis)s: %(how)s.": "%(basis)s: %(how)s.",
    "the most recent one counts": "cuenta el más reciente",
    "the best one counts": "cuenta el mejor",
    "they all count the same": "todos cuentan igual",
    "the most recent ones count the most": "los más recientes cuentan más",
    "the level counts once the skill has been shown %(n)s times": "el nivel cuenta cuando la habilidad se ha demostrado %(n)s veces",
    "the level follows where they are heading": "el nivel sigue hacia dónde van",
    "the one reached most often counts": "cuenta el que más se repite",
    "the middle one counts": "cuenta el del medio",
    # Model choices families see
    "Monday": "Lunes",
    "Tuesday": "Martes",
    "Wednesday": "Miércoles",
    "Thursday": "Jueves",
    "Friday": "Viernes",
    "In progress": "En curso",
    "Exited": "Salió (objetivo logrado)",
    "Continuing": "Continúa",
    "Scored": "Calificado",
    "Missing": "Falta entregar",
    "Excused": "Justificado",
    "Incomplete": "Incompleto",
    "Insufficient evidence": "Evidencia insuficiente",
    "Pre-assessment": "Evaluación diagnóstica",
    "Formative": "Formativa",
    "Summative": "Sumativa",
    "Interim": "Intermedia",
    "Reassessment": "Nueva evaluación",
    "Open": "Abierta",
    "Scheduled": "Programada",
    "Completed": "Completada",
    "Declined": "Rechazada",
    # Invitations
    "Join the family portal": "Unirse al portal para familias",
    "Type the code from the letter the school gave you.": "Escriba el código de la carta que le entregó la escuela.",
    "Invitation code": "Código de invitación",
    "Continue": "Continuar",
    "%(school)s invites you to follow the progress of:": "%(school)s le invita a seguir el progreso de:",
    "Your email:": "Su correo:",
    "Your name": "Su nombre",
    "Choose a password": "Elija una contraseña",
    "The two passwords are not the same.": "Las dos contraseñas no son iguales.",
    "Join": "Unirme",
    "This invitation cannot be used": "Esta invitación no se puede usar",
    "It was already used, or it has expired. Ask the school for a new one.": "Ya se usó o venció. Pida una nueva a la escuela.",
    "Too many tries. Wait a few minutes and try again.": "Demasiados intentos. Espere unos minutos e inténtelo de nuevo.",
    "That code is not valid, or it was already used or has expired.": "Ese código no es válido, o ya se usó o venció.",
    "You already have an account: log in, then open the invitation again.": "Ya tiene una cuenta: inicie sesión y luego abra la invitación otra vez.",
    "Welcome! You can now follow your children's progress here.": "¡Bienvenido/a! Ahora puede seguir aquí el progreso de sus hijos.",
    "Data dialogue": "Diálogo sobre los datos",
    "API tokens": "Claves de la API",
    # Accounts: activation, email confirmation, invitations to an existing account
    "You already have an account: log in, then open the invitation again. Never signed in? Use “Forgot your password?” to get a link at your address.": "Ya tiene una cuenta: inicie sesión y vuelva a abrir la invitación. ¿Nunca inició sesión? Use «¿Olvidó su contraseña?» para recibir un enlace en su correo.",
    "Hello %(name)s,": "Hola, %(name)s:",
    "Your school set up a Mastery gradebook account for you. It signs in with this email address.": "Su escuela le creó una cuenta en la libreta de calificaciones por dominio. Se inicia sesión con esta dirección de correo.",
    "Choose your password here to activate it:": "Elija aquí su contraseña para activarla:",
    "The link works once and for a limited time. If it has expired, use “Forgot your password?” on the sign-in page.": "El enlace funciona una sola vez y por tiempo limitado. Si venció, use «¿Olvidó su contraseña?» en la página de inicio de sesión.",
    "Only you can set this account's password: nobody at the school can see or change it.": "Solo usted puede elegir la contraseña de esta cuenta: nadie en la escuela puede verla ni cambiarla.",
    "Activate your Mastery gradebook account": "Active su cuenta de la libreta de calificaciones por dominio",
    "Confirm your new email address": "Confirme su nueva dirección de correo",
    "Your account signs in with %(old)s. Confirm to sign in with %(new)s from now on.": "Su cuenta inicia sesión con %(old)s. Confirme para iniciar sesión con %(new)s de ahora en adelante.",
    "Use %(new)s": "Usar %(new)s",
    "Your school's records now give %(new_email)s as your email address. Your Mastery gradebook account keeps its current address until you confirm this one.": "Los registros de su escuela ahora indican %(new_email)s como su correo. Su cuenta conserva su dirección actual hasta que confirme esta.",
    "To sign in with this address from now on, open this link:": "Para iniciar sesión con esta dirección de ahora en adelante, abra este enlace:",
    "The link works for %(days)s days. If you did not expect this, ignore this email: nothing changes.": "El enlace funciona durante %(days)s días. Si no esperaba este mensaje, ignórelo: no cambia nada.",
    "It was already used, or it is too old. Your account keeps the address it has.": "Ya se usó o es demasiado antiguo. Su cuenta conserva la dirección que tiene.",
    "Confirm your new email address for the Mastery gradebook": "Confirme su nueva dirección de correo para la libreta de calificaciones por dominio",
    "Choose your password": "Elija su contraseña",
    "Your account signs in with %(email)s. Choose its password to activate it.": "Su cuenta inicia sesión con %(email)s. Elija su contraseña para activarla.",
    "Your account now signs in with %(email)s.": "Su cuenta ahora inicia sesión con %(email)s.",
    # Reassessment: the rules in words, asking, the requests' status (issue [12])
    "The new score replaces the earlier ones: the level is the most recent score.": "El nuevo puntaje reemplaza a los anteriores: el nivel es el puntaje más reciente.",
    "The new score counts if it is higher: the level is the highest score.": "El nuevo puntaje cuenta si es más alto: el nivel es el puntaje más alto.",
    "The new score is added to the earlier ones: the level is their average.": "El nuevo puntaje se suma a los anteriores: el nivel es su promedio.",
    "The new score is added to the earlier ones: the level is their median.": "El nuevo puntaje se suma a los anteriores: el nivel es su mediana.",
    "The new score is added to the earlier ones: the level is the most frequent score.": "El nuevo puntaje se suma a los anteriores: el nivel es el puntaje más frecuente.",
    "The new score counts most: it weighs %(weight)s%% against everything before it.": "El nuevo puntaje es el que más cuenta: pesa un %(weight)s%% frente a todo lo anterior.",
    "The new score counts most: the newest score weighs %(weight)s%%.": "El nuevo puntaje es el que más cuenta: el puntaje más reciente pesa un %(weight)s%%.",
    "The new score extends the trend the level is read from.": "El nuevo puntaje prolonga la tendencia de la que se lee el nivel.",
    "students": "estudiantes",
    "families": "familias",
    "teachers, for a student": "docentes, en nombre de un estudiante",
    "Who may ask for a reassessment: %(who)s.": "Quién puede pedir una nueva evaluación: %(who)s.",
    "Reassessments are arranged by the teacher; nobody asks for them here.": "El docente organiza las nuevas evaluaciones; aquí nadie las pide.",
    "First, practise: since the last attempt, a practice score on the target or an intervention session on it attended.": "Primero, practicar: desde el último intento, un puntaje de práctica en el objetivo o una sesión de intervención sobre él a la que se asistió.",
    "No limit on reassessments per target in a grading period.": "No hay límite de nuevas evaluaciones por objetivo en un período de calificación.",
    "Requests close when the grading period ends.": "Las solicitudes se cierran cuando termina el período de calificación.",
    "Families may ask for a reassessment.": "Las familias pueden pedir una nueva evaluación.",
    "In this course, families cannot ask for a reassessment: the student asks.": "En este curso, las familias no pueden pedir una nueva evaluación: la pide el estudiante.",
    "Teachers may note a request for a student.": "Los docentes pueden anotar una solicitud en nombre de un estudiante.",
    "In this course, requests come from students, not from teachers.": "En este curso, las solicitudes vienen de los estudiantes, no de los docentes.",
    "Students may ask for a reassessment.": "Los estudiantes pueden pedir una nueva evaluación.",
    "In this course, students do not ask: the teacher arranges reassessments.": "En este curso, los estudiantes no las piden: el docente organiza las nuevas evaluaciones.",
    "This learning target is not part of a current course.": "Este objetivo de aprendizaje no forma parte de un curso actual.",
    "A request on this target is already %(status)s (sent %(day)s).": "Ya hay una solicitud sobre este objetivo: %(status)s (enviada el %(day)s).",
    "No other request on this target is waiting.": "No hay otra solicitud pendiente sobre este objetivo.",
    "There is no attempt on this target to retake yet.": "Todavía no hay un intento en este objetivo que se pueda repetir.",
    "At least %(n)s days after the attempt of %(day)s: met.": "Al menos %(n)s días después del intento del %(day)s: cumplido.",
    "Too soon after the attempt of %(day)s: you can ask from %(opens)s.": "Demasiado pronto después del intento del %(day)s: se puede pedir a partir del %(opens)s.",
    "Practice since the attempt: done on %(day)s.": "Práctica desde el intento: hecha el %(day)s.",
    "Practice first: no practice score or intervention session on this target since the attempt of %(day)s.": "Primero, practicar: no hay puntaje de práctica ni sesión de intervención sobre este objetivo desde el intento del %(day)s.",
    "Reassessments on this target this grading period: %(used)s of %(max)s.": "Nuevas evaluaciones en este objetivo en este período: %(used)s de %(max)s.",
    "Requests for this grading period are open until %(day)s.": "Las solicitudes de este período están abiertas hasta el %(day)s.",
    "The term is not in session: requests are closed.": "El período escolar no está en curso: las solicitudes están cerradas.",
    "Requests for this grading period closed on %(day)s.": "Las solicitudes de este período se cerraron el %(day)s.",
    "Waiting for the teacher": "Esperando al docente",
    "Expired": "Vencida",
    "Withdrawn": "Retirada",
    "Ask for a reassessment": "Pedir una nueva evaluación",
    "These targets are not mastered yet. After more practice, you can ask the teacher for a reassessment.": "Estos objetivos todavía no se dominan. Después de practicar más, se puede pedir al docente una nueva evaluación.",
    "How reassessment works": "Cómo funcionan las nuevas evaluaciones",
    "Reassessment: how, when and how many times": "Nuevas evaluaciones: cómo, cuándo y cuántas veces",
    "My reassessment requests": "Mis solicitudes de nueva evaluación",
    "Reassessment requests": "Solicitudes de nueva evaluación",
    "on %(weekday)s, %(day)s": "el %(weekday)s %(day)s",
    "asked %(day)s": "pedida el %(day)s",
    "Teacher's reason": "Motivo del docente",
    "Withdraw": "Retirar",
    "last attempt %(day)s": "último intento el %(day)s",
    "You can ask: every rule is met": "Puede pedirla: se cumplen todas las reglas",
    "You cannot ask yet": "Todavía no se puede pedir",
    "Met:": "Cumplida:",
    "Not met:": "No cumplida:",
    "A note for the teacher (optional): what you practised": "Una nota para el docente (opcional): qué practicó",
    "Send the request": "Enviar la solicitud",
    "All the reassessment rules of this course": "Todas las reglas de nuevas evaluaciones de este curso",
    "Your request is sent. The teacher will answer it here.": "Su solicitud fue enviada. El docente la responderá aquí.",
    "The request is withdrawn.": "La solicitud fue retirada.",
    # Issue [13]: standards, evidence files and submitted work, self-assessment
    "Each school in its current term. Targets are compared across schools only where they teach the same standard: the same aligned framework standard, else the same standard code.": "Cada escuela en su periodo actual. Los objetivos se comparan entre escuelas solo donde enseñan el mismo estándar: el mismo estándar alineado de un marco, o si no el mismo código de estándar.",
    "Where targets of two or more schools teach the same standard, the share of students proficient on them in each school (of those assessed). A target aligned to a framework's standard is compared by that standard's identifier (whatever its code is typed as), under each standard it is aligned to; a target with no aligned standard is compared by its standard code.": "Donde objetivos de dos o más escuelas enseñan el mismo estándar, la proporción de estudiantes competentes en ellos en cada escuela (de los evaluados). Un objetivo alineado a un estándar de un marco se compara por el identificador de ese estándar (se escriba como se escriba su código), bajo cada estándar al que está alineado; un objetivo sin estándar alineado se compara por su código de estándar.",
    "No standard is taught by targets of two schools.": "Ningún estándar es enseñado por objetivos de dos escuelas.",
    "Aligned: untick it under “Aligned standards” to remove it.": "Alineado: desmárquelo en “Estándares alineados” para quitarlo.",
    "Show them": "Mostrarlos",
    "No current standards here.": "Aquí no hay estándares vigentes.",
    "More standards at this level than can be listed: search for the one you want.": "Hay más estándares en este nivel de los que se pueden listar: busque el que quiere.",
    "Browse the frameworks": "Explorar los marcos",
    "Open a framework, then a domain or cluster, and tick the standards this target teaches. Ticks here are added when you save.": "Abra un marco, luego un dominio o grupo, y marque los estándares que enseña este objetivo. Lo que marque aquí se añade al guardar.",
    "Show its standards": "Mostrar sus estándares",
    "No standards match “%(query)s”. Try part of a code (e.g. 3.NF) or a word of the statement, or browse the frameworks below.": "Ningún estándar coincide con “%(query)s”. Pruebe parte de un código (p. ej. 3.NF) o una palabra del enunciado, o explore los marcos más abajo.",
    "Tick the standards this target teaches (search above, or browse the frameworks below); untick one to remove it. The target keeps its own statement and descriptors.": "Marque los estándares que enseña este objetivo (busque arriba o explore los marcos abajo); desmarque uno para quitarlo. El objetivo conserva su propio enunciado y sus descriptores.",
    "An optional last column, <code>case_identifiers</code>, aligns each target to standards of the frameworks this school uses: their CASE identifiers (as in the framework's CASE package, or the API's frameworks resource), separated by spaces or semicolons. An empty cell means no standard; a file without the column leaves alignments as they are. An identifier no framework here has, or a retired standard, refuses the file.": "Una última columna opcional, <code>case_identifiers</code>, alinea cada objetivo con estándares de los marcos que usa esta escuela: sus identificadores CASE (como en el paquete CASE del marco, o en el recurso frameworks de la API), separados por espacios o puntos y comas. Una celda vacía significa ningún estándar; un archivo sin la columna deja las alineaciones como están. Un identificador que ningún marco de aquí tiene, o un estándar retirado, rechaza el archivo.",
    "Returned": "Devuelto",
    "The evidence it became when a teacher scored it.": "La evidencia en que se convirtió cuando un docente la calificó.",
    "the file is larger than %(mb)s MB.": "el archivo pesa más de %(mb)s MB.",
    "the file is empty.": "el archivo está vacío.",
    "the image cannot be read (damaged or not an image).": "no se puede leer la imagen (está dañada o no es una imagen).",
    "the PDF is damaged or incomplete.": "el PDF está dañado o incompleto.",
    "only photos (JPEG, PNG, HEIC, WebP) and PDF files can be added; this file is not one.": "solo se pueden agregar fotos (JPEG, PNG, HEIC, WebP) y archivos PDF; este archivo no es ninguno de ellos.",
    "Add at most %(n)s files at a time.": "Agregue como máximo %(n)s archivos a la vez.",
    "Choose at least one photo or PDF file.": "Elija al menos una foto o un archivo PDF.",
    "That evidence is voided; attach files to its score.": "Esa evidencia está anulada; adjunte los archivos a su calificación.",
    "Say why this file is removed.": "Diga por qué se quita este archivo.",
    "Keep the reason under 300 characters.": "El motivo debe tener menos de 300 caracteres.",
    "That file does not exist in this school.": "Ese archivo no existe en esta escuela.",
    "Give your work a title.": "Póngale un título a su trabajo.",
    "Keep the title to %(n)s characters.": "El título puede tener hasta %(n)s caracteres.",
    "Keep the note to %(n)s characters.": "La nota puede tener hasta %(n)s caracteres.",
    "The text cannot hold a NUL character.": "El texto no puede contener un carácter NUL.",
    "Add a photo or a file of your work, or a note.": "Agregue una foto o un archivo de su trabajo, o una nota.",
    "That learning target is not in any of your classes.": "Ese objetivo de aprendizaje no está en ninguna de sus clases.",
    "That submission does not exist in this school.": "Esa entrega no existe en esta escuela.",
    "This submission was %(status)s.": "Esta entrega ya fue %(status)s.",
    "The student is no longer in a section for it.": "El estudiante ya no está en una sección para esta entrega.",
    "Choose formative, summative, interim or pre-assessment.": "Elija formativa, sumativa, intermedia o evaluación previa.",
    "Enter a score or a status.": "Escriba una calificación o un estado.",
    "Say what the student should do.": "Diga qué debe hacer el estudiante.",
    "Only a pending submission can be returned.": "Solo se puede devolver una entrega pendiente.",
    "Only a pending submission can be withdrawn.": "Solo se puede retirar una entrega pendiente.",
    "Those files are already attached.": "Esos archivos ya están adjuntos.",
    "Removed by the teacher": "Quitado por el docente",
    "The file is removed; it stays in the records for staff.": "Se quitó el archivo; queda en los registros para el personal.",
    "Enter a valid date.": "Escriba una fecha válida.",
    "%(student)s's work on %(target)s is scored; it now counts.": "El trabajo de %(student)s en %(target)s está calificado; ahora cuenta.",
    "The work is returned to the student with your note.": "El trabajo se devolvió al estudiante con su nota.",
    "Choose one of your learning targets.": "Elija uno de sus objetivos de aprendizaje.",
    "Your work is sent. It counts once your teacher scores it.": "Su trabajo fue enviado. Cuenta cuando su docente lo califique.",
    "Your work is withdrawn.": "Su trabajo fue retirado.",
    "Photo: %(name)s": "Foto: %(name)s",
    "Removed: %(reason)s": "Quitado: %(reason)s",
    "e.g. the wrong student": "p. ej., el estudiante equivocado",
    "Remove the file": "Quitar el archivo",
    "Add photos": "Agregar fotos",
    "Photos or PDF of the student's work": "Fotos o PDF del trabajo del estudiante",
    "Attach": "Adjuntar",
    "Work the student submitted": "Trabajo que entregó el estudiante",
    "Your note": "Su nota",
    "Score it": "Calificarlo",
    "Return it without a score": "Devolverlo sin calificación",
    "Note to the student": "Nota para el estudiante",
    "Return it": "Devolverlo",
    "Submitted work": "Trabajo entregado",
    "Work students handed in on a learning target. It counts for nothing until you score it; scoring makes an assessment in this section and the student's evidence, with the files on it.": "Trabajo que los estudiantes entregaron sobre un objetivo de aprendizaje. No cuenta hasta que usted lo califique; al calificarlo se crea una evaluación en esta sección y la evidencia del estudiante, con los archivos.",
    "submitted %(when)s": "entregado el %(when)s",
    "No work waiting to be scored.": "No hay trabajo esperando calificación.",
    "The task's files": "Los archivos de la tarea",
    "The task sheet, its pages or an answer key, as photos or PDF. Only staff see them.": "La hoja de la tarea, sus páginas o la clave de respuestas, como fotos o PDF. Solo el personal los ve.",
    "Photos or PDF of the task": "Fotos o PDF de la tarea",
    "Work handed in": "Trabajo entregado",
    "Work students handed in": "Trabajo que entregaron los estudiantes",
    "Hand in my work": "Entregar mi trabajo",
    "Take a photo of your work (or choose a file) and send it to your teacher on a learning target. It counts once your teacher scores it.": "Tome una foto de su trabajo (o elija un archivo) y envíela a su docente sobre un objetivo de aprendizaje. Cuenta cuando su docente lo califique.",
    "Choose a target": "Elija un objetivo",
    "Title": "Título",
    "e.g. Homework, problem 4": "p. ej., Tarea, problema 4",
    "A note for your teacher (optional)": "Una nota para su docente (opcional)",
    "Take a photo": "Tomar una foto",
    "Or choose photos or a PDF": "O elegir fotos o un PDF",
    "Up to %(n)s files of %(mb)s MB each. Photos are stored without their location or camera details.": "Hasta %(n)s archivos de %(mb)s MB cada uno. Las fotos se guardan sin su ubicación ni los datos de la cámara.",
    "Send to my teacher": "Enviar a mi docente",
    "What I sent": "Lo que envié",
    "Teacher's note": "Nota del docente",
    "Nothing sent yet.": "Todavía no ha enviado nada.",
    "Send a photo of your work to your teacher on a learning target.": "Envíe a su docente una foto de su trabajo sobre un objetivo de aprendizaje.",
    "Waiting for my teacher": "Esperando a mi docente",
    "My work": "Mi trabajo",
    "Work and photos": "Trabajos y fotos",
    "Self-assessment": "Autoevaluación",
    "Students' ratings of themselves count as evidence, like a score on the day they were made. Off: they are shown beside the teacher's scores and never counted.": "Las autoevaluaciones de los estudiantes cuentan como evidencia, como una calificación del día en que se hicieron. Desactivado: se muestran junto a las calificaciones del maestro y nunca cuentan.",
    "Count students' self-assessments": "Contar las autoevaluaciones de los estudiantes",
    "Self-assessments: a student's own rating of a target is shown beside the teacher's scores and never counted toward a level.": "Autoevaluaciones: la calificación que un estudiante se da en un objetivo se muestra junto a las calificaciones del maestro y nunca cuenta para el nivel.",
    "Keep it to %(limit)s characters or fewer.": "Escribe %(limit)s caracteres o menos.",
    "You can only rate yourself.": "Solo puedes evaluarte a ti mismo.",
    "That learning target is not in your courses.": "Ese objetivo de aprendizaje no está en tus cursos.",
    "Choose a level of the scale: %(levels)s.": "Elige un nivel de la escala: %(levels)s.",
    "That rating does not exist.": "Esa autoevaluación no existe.",
    "Write an answer first.": "Escribe primero una respuesta.",
    "The student's own ratings": "Las autoevaluaciones del estudiante",
    "This school's policy counts them as evidence: each is one more score, on its day.": "La política de esta escuela las cuenta como evidencia: cada una es una calificación más, del día en que se hizo.",
    "Shown beside your scores; never counted toward the level.": "Se muestran junto a sus calificaciones; nunca cuentan para el nivel.",
    "%(who)s answered": "%(who)s respondió",
    "Change your answer": "Cambiar su respuesta",
    "Answer": "Responder",
    "Your answer to the student": "Su respuesta al estudiante",
    "Send the answer": "Enviar la respuesta",
    "The student has not rated themselves on this target yet.": "El estudiante todavía no se ha autoevaluado en este objetivo.",
    "Your answer is saved; the student sees it on their page.": "Su respuesta se guardó; el estudiante la ve en su página.",
    "My own rating": "Mi autoevaluación",
    "The student's own rating": "La autoevaluación del estudiante",
    "Rate myself again": "Evaluarme de nuevo",
    "Rate myself": "Evaluarme",
    "Your rating is saved. Your teachers and your family can see it.": "Tu autoevaluación se guardó. Tus maestros y tu familia pueden verla.",
    "The rating is withdrawn. Nobody else sees it now.": "La autoevaluación se retiró. Ahora nadie más la ve.",
    "My teacher's level now": "Mi nivel actual según mi maestro",
    "Your rating is shown beside your teacher's scores, to your teachers and your family. It does not change your level.": "Tu autoevaluación se muestra junto a las calificaciones de tu maestro, a tus maestros y a tu familia. No cambia tu nivel.",
    "Where am I on this target?": "¿Dónde estoy en este objetivo?",
    "My reflection (optional): what shows it, and what I will do next": "Mi reflexión (opcional): qué lo demuestra y qué haré después",
    "Up to 1,000 characters. Your teachers can answer it.": "Hasta 1.000 caracteres. Tus maestros pueden responderla.",
    "Save my rating": "Guardar mi autoevaluación",
    "My earlier ratings": "Mis autoevaluaciones anteriores",
    "No ratings yet.": "Todavía no hay autoevaluaciones.",
    "Nobody else will see it any more. It does not come back.": "Nadie más la verá. No se puede recuperar.",
    "Withdraw this rating": "Retirar esta autoevaluación",
    "The school counts it as one more score toward the level.": "La escuela la cuenta como una calificación más para el nivel.",
    "Shown beside the teacher's scores; it does not change the level.": "Se muestra junto a las calificaciones del maestro; no cambia el nivel.",
    "the PDF holds scripts, actions or embedded files, which are not accepted. Print it to a new PDF, or send a photo of the work.": "el PDF contiene scripts, acciones o archivos incrustados, que no se aceptan. Imprímalo como un PDF nuevo o envíe una foto del trabajo.",
    "the image is too large (%(mp)s megapixels); send a smaller photo or a screenshot.": "la imagen es demasiado grande (%(mp)s megapíxeles); envíe una foto más pequeña o una captura de pantalla.",
    "Off: a student's rating of themselves is shown beside the teacher's scores, and never counted. On: only the student's latest rating on a target counts, as one score, on the day it was made, under the method above.": "Desactivado: la autoevaluación de un estudiante se muestra junto a las calificaciones del maestro y nunca cuenta. Activado: solo cuenta la autoevaluación más reciente del estudiante en un objetivo, como una calificación, del día en que se hizo, según el método de arriba.",
    "Self-assessments: only the student's latest rating on a target counts, as one score, on the day it was made, under the method above.": "Autoevaluaciones: solo cuenta la autoevaluación más reciente del estudiante en un objetivo, como una calificación, del día en que se hizo, según el método de arriba.",
    "Your school counts your own rating: only your latest rating on this target counts, as one score toward your level, on the day you make it.": "Tu escuela cuenta tu autoevaluación: solo cuenta tu autoevaluación más reciente en este objetivo, como una calificación para tu nivel, del día en que la haces.",
    # Report cards of record (reports/report_card.html, the portal's list of report cards)
    "Report card": "Boletín de calificaciones",
    "Report cards": "Boletines de calificaciones",
    "All report cards": "Todos los boletines",
    "How to read this report card": "Cómo leer este boletín",
    "as of %(period)s (%(day)s)": "al cierre de %(period)s (%(day)s)",
    "Marks of record posted by the teachers; they do not change when later work is scored.": "Calificaciones oficiales publicadas por los docentes; no cambian cuando se califica un trabajo posterior.",
    "Each course shows the level posted on each learning target in each grading period, then the course grade as the school reports it.": "Cada materia muestra el nivel publicado en cada objetivo de aprendizaje en cada período de calificación, y luego la calificación de la materia como la informa la escuela.",
    "no mark": "sin calificación",
    "Set by the teacher, not the computed value.": "Fijada por el docente, no el valor calculado.",
    "set by the teacher, not the computed value": "fijada por el docente, no el valor calculado",
    "Teacher's comments": "Comentarios del docente",
    "Habit": "Hábito",
    "On their own scale; they do not change any level or grade above.": "En su propia escala; no cambian ningún nivel ni calificación de arriba.",
    "The marks of record the teachers posted at the end of each grading period. They do not change when later work is scored.": "Las calificaciones oficiales que los docentes publicaron al final de cada período de calificación. No cambian cuando se califica un trabajo posterior.",
    "The marks of record the teachers post at the end of each grading period.": "Las calificaciones oficiales que los docentes publican al final de cada período de calificación.",
    "Grading period ending %(day)s": "Período de calificación que termina el %(day)s",
    "No report card yet. One appears here when the teachers post the marks of a grading period.": "Todavía no hay boletines. Aparecen aquí cuando los docentes publican las calificaciones de un período de calificación.",
    "See the report cards": "Ver los boletines",
    "Letter (A–F)": "Letra (A–F)",
    "Percent (0–100)": "Porcentaje (0–100)",
    "Grade points (4.0)": "Puntos de calificación (4,0)",
    # Alerts (alerts/): the settings page, the unsubscribe page, the mails
    "Right away": "De inmediato",
    "In a daily summary": "En un resumen diario",
    "In a weekly summary": "En un resumen semanal",
    "Never": "Nunca",
    "show scores and comments in the mail": "mostrar puntajes y comentarios en el correo",
    "Off: the mail says that something changed and links to the portal.": "Desactivado: el correo dice que algo cambió y enlaza al portal.",
    "quiet hours from": "horas de silencio desde",
    "quiet hours until": "horas de silencio hasta",
    "Quiet hours from": "Horas de silencio desde",
    "Quiet hours until": "Horas de silencio hasta",
    "Mail that would arrive in these hours waits until they end.": "El correo que llegaría en estas horas espera hasta que terminen.",
    "Give both ends of the quiet hours, or neither.": "Indique el inicio y el fin de las horas de silencio, o ninguno de los dos.",
    "The quiet hours start and end at the same time.": "Las horas de silencio empiezan y terminan a la misma hora.",
    "A new score": "Un puntaje nuevo",
    "Missing or incomplete work": "Trabajo faltante o incompleto",
    "New feedback": "Comentarios nuevos",
    "A reassessment request answered": "Una solicitud de reevaluación respondida",
    "Work marked missing or incomplete": "Trabajo marcado como faltante o incompleto",
    "A teacher's comment": "Un comentario del docente",
    "An answer to a reassessment request": "Una respuesta a una solicitud de reevaluación",
    "An intervention placement and its days": "Una asignación de intervención y sus días",
    "A reassessment request to answer": "Una solicitud de reevaluación por responder",
    "A batch of reports finished": "Un lote de informes terminado",
    "Alerts": "Alertas",
    "How often": "Con qué frecuencia",
    "What the email shows": "Qué muestra el correo",
    "Quiet hours": "Horas de silencio",
    "Emails are written in the language of your account. Every email has a link that stops all alerts in one click.": "Los correos se escriben en el idioma de su cuenta. Cada correo tiene un enlace que detiene todas las alertas con un clic.",
    "There is nothing to send you alerts about yet.": "Todavía no hay nada sobre lo que enviarle alertas.",
    "Stop alerts": "Detener alertas",
    "This link is not valid. Sign in to change your alert settings.": "Este enlace no es válido. Inicie sesión para cambiar la configuración de sus alertas.",
    "Done: %(address)s will get no more alerts.": "Listo: %(address)s no recibirá más alertas.",
    "Choose the alerts you want again": "Elegir de nuevo las alertas que desea",
    "Stop every alert to %(address)s? You can turn them back on in your alert settings.": "¿Detener todas las alertas a %(address)s? Puede volver a activarlas en la configuración de sus alertas.",
    "Stop all alerts": "Detener todas las alertas",
    "Choose what you hear about by email at %(address)s, and how often. A summary gathers a day's or a week's news, for all your children, in one email.": "Elija de qué le avisamos por correo a %(address)s y con qué frecuencia. Un resumen reúne las novedades de un día o de una semana, de todos sus hijos, en un solo correo.",
    "Your alert settings are saved.": "Se guardó la configuración de sus alertas.",
    "your child": "su hijo o hija",
    "A new intervention placement": "Una nueva asignación de intervención",
    "%(assessment)s: scored %(score)s": "%(assessment)s: puntaje %(score)s",
    "%(assessment)s: incomplete": "%(assessment)s: incompleto",
    "%(assessment)s: missing": "%(assessment)s: faltante",
    "Comment on %(assessment)s: “%(text)s”": "Comentario sobre %(assessment)s: “%(text)s”",
    "Reassessment request: %(status)s": "Solicitud de reevaluación: %(status)s",
    "Intervention cycle %(cycle)s: %(where)s": "Ciclo de intervención %(cycle)s: %(where)s",
    "Here is today's summary from %(school)s.": "Este es el resumen de hoy de %(school)s.",
    "Here is this week's summary from %(school)s.": "Este es el resumen de esta semana de %(school)s.",
    "There is news from %(school)s.": "Hay novedades de %(school)s.",
    "See it in the portal: %(link)s": "Véalo en el portal: %(link)s",
    "Your batch of reports is ready to download.": "Su lote de informes está listo para descargar.",
    "%(school)s: today's summary for %(names)s": "%(school)s: resumen de hoy sobre %(names)s",
    "%(school)s: this week's summary for %(names)s": "%(school)s: resumen de esta semana sobre %(names)s",
    "%(school)s: news about %(names)s": "%(school)s: novedades sobre %(names)s",
    "%(school)s: waiting for you in the gradebook": "%(school)s: pendientes para usted en la libreta de calificaciones",
    "You get this email because of your alert settings. Change them: %(link)s": "Recibe este correo por la configuración de sus alertas. Puede cambiarla aquí: %(link)s",
    "Stop all alerts: %(link)s": "Detener todas las alertas: %(link)s",
    "A learning target below proficient": "Un objetivo de aprendizaje por debajo del nivel competente",
    "A learning target below proficient after a new score": "Un objetivo de aprendizaje por debajo del nivel competente después de un puntaje nuevo",
    "Below proficient now: %(target)s": "Ahora por debajo del nivel competente: %(target)s",
    "A posting deadline for marks": "Una fecha límite para publicar calificaciones",
    "A report card ready": "Un boletín listo",
    "A reassessment opportunity": "Una oportunidad de reevaluación",
    "A reassessment a teacher offers": "Una reevaluación que ofrece un docente",
    "A teacher offers a reassessment on %(target)s": "Un docente ofrece una reevaluación de %(target)s",
    "A report card is ready": "Hay un boletín listo",
    "The report card of %(period)s is ready": "El boletín de %(period)s está listo",
    "Report cards: %(link)s": "Boletines: %(link)s",
    "Marks to post before a posting deadline": "Calificaciones por publicar antes de una fecha límite",
}

PLURAL = {
    "%(count)s new score": ("%(count)s puntaje nuevo", "%(count)s puntajes nuevos"),
    "%(count)s reassessment offered by a teacher": (
        "%(count)s reevaluación ofrecida por un docente",
        "%(count)s reevaluaciones ofrecidas por docentes",
    ),
    "Marks for %(period)s are due by %(day)s: %(count)s section not posted yet.": (
        "Las calificaciones de %(period)s vencen el %(day)s: %(count)s sección sin publicar todavía.",
        "Las calificaciones de %(period)s vencen el %(day)s: %(count)s secciones sin publicar todavía.",
    ),
    "%(count)s learning target below proficient": (
        "%(count)s objetivo de aprendizaje por debajo del nivel competente",
        "%(count)s objetivos de aprendizaje por debajo del nivel competente",
    ),
    "%(count)s piece of work marked missing or incomplete": (
        "%(count)s trabajo marcado como faltante o incompleto",
        "%(count)s trabajos marcados como faltantes o incompletos",
    ),
    "%(count)s new comment from a teacher": (
        "%(count)s comentario nuevo de un docente",
        "%(count)s comentarios nuevos de docentes",
    ),
    "%(count)s reassessment request answered": (
        "%(count)s solicitud de reevaluación respondida",
        "%(count)s solicitudes de reevaluación respondidas",
    ),
    "%(count)s new reassessment request to answer.": (
        "%(count)s solicitud de reevaluación nueva por responder.",
        "%(count)s solicitudes de reevaluación nuevas por responder.",
    ),
    "Based on %(count)s score": ("Según %(count)s puntaje", "Según %(count)s puntajes"),
    "Not enough evidence yet (%(count)s score counted).": (
        "Todavía no hay suficiente evidencia (%(count)s puntaje contado).",
        "Todavía no hay suficiente evidencia (%(count)s puntajes contados).",
    ),
    "From %(count)s score, using %(method)s: %(score)s.": (
        "A partir de %(count)s puntaje, con %(method)s: %(score)s.",
        "A partir de %(count)s puntajes, con %(method)s: %(score)s.",
    ),
    "%(letter)s: %(mastered)s of %(count)s learning target is at mastery or above.": (
        "%(letter)s: %(mastered)s de %(count)s objetivo de aprendizaje está en el nivel de dominio o más.",
        "%(letter)s: %(mastered)s de %(count)s objetivos de aprendizaje están en el nivel de dominio o más.",
    ),
    "%(letter)s: the average of %(count)s learning target is %(mean)s.": (
        "%(letter)s: el promedio de %(count)s objetivo de aprendizaje es %(mean)s.",
        "%(letter)s: el promedio de %(count)s objetivos de aprendizaje es %(mean)s.",
    ),
    "%(count)s target without enough evidence is not counted yet.": (
        "%(count)s objetivo sin suficiente evidencia todavía no se cuenta.",
        "%(count)s objetivos sin suficiente evidencia todavía no se cuentan.",
    ),
    "At most %(n)s reassessment per target in each grading period.": (
        "Como máximo %(n)s nueva evaluación por objetivo en cada período de calificación.",
        "Como máximo %(n)s nuevas evaluaciones por objetivo en cada período de calificación.",
    ),
    "Not within %(n)s day of the attempt being retaken.": (
        "No antes de %(n)s día después del intento que se repite.",
        "No antes de %(n)s días después del intento que se repite.",
    ),
    "Requests close %(n)s day before the grading period ends.": (
        "Las solicitudes se cierran %(n)s día antes de que termine el período de calificación.",
        "Las solicitudes se cierran %(n)s días antes de que termine el período de calificación.",
    ),
    "A scheduled reassessment not taken within %(n)s day of its date expires.": (
        "Una nueva evaluación programada que no se presenta dentro de %(n)s día de su fecha vence.",
        "Una nueva evaluación programada que no se presenta dentro de %(n)s días de su fecha vence.",
    ),
    "A new score at mastery counts toward the %(n)s time needed.": (
        "Un nuevo puntaje en el nivel de dominio cuenta para la %(n)s vez necesaria.",
        "Un nuevo puntaje en el nivel de dominio cuenta para las %(n)s veces necesarias.",
    ),
    "Only the last %(n)s score counts.": (
        "Solo cuenta el último %(n)s puntaje.",
        "Solo cuentan los últimos %(n)s puntajes.",
    ),
    "%(counter)s standard under %(code)s": (
        "%(counter)s estándar bajo %(code)s",
        "%(counter)s estándares bajo %(code)s",
    ),
    "(%(counter)s standard)": (
        "(%(counter)s estándar)",
        "(%(counter)s estándares)",
    ),
    "%(counter)s standard matches “%(query)s”: tick it under “Aligned standards”.": (
        "%(counter)s estándar coincide con “%(query)s”: márquelo en “Estándares alineados”.",
        "%(counter)s estándares coinciden con “%(query)s”: márquelos en “Estándares alineados”.",
    ),
    "The same photo is on the work of %(n)s other student (%(names)s): it may show them. It is flagged in the students' records.": (
        "La misma foto está en el trabajo de %(n)s estudiante más (%(names)s): puede mostrarlo. Queda señalada en los expedientes de los estudiantes.",
        "La misma foto está en el trabajo de %(n)s estudiantes más (%(names)s): puede mostrarlos. Queda señalada en los expedientes de los estudiantes.",
    ),
    "%(n)s file attached.": (
        "%(n)s archivo adjuntado.",
        "%(n)s archivos adjuntados.",
    ),
    "May show %(n)s other student": (
        "Puede mostrar a %(n)s estudiante más",
        "Puede mostrar a %(n)s estudiantes más",
    ),
    "%(counter)s to score": (
        "%(counter)s por calificar",
        "%(counter)s por calificar",
    ),
    "%(n)s photo or file of the student's work is kept with this target's evidence.": (
        "Se guarda %(n)s foto o archivo del trabajo del estudiante con la evidencia de este objetivo.",
        "Se guardan %(n)s fotos o archivos del trabajo del estudiante con la evidencia de este objetivo.",
    ),
}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _unquote(block: str) -> str:
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', block)
    return "".join(parts).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


HEADER = {
    "Project-Id-Version": "mastery-gradebook",
    "Language-Team": "Spanish",
    "Language": "es",
    "Last-Translator": "Mastery gradebook maintainers",
}


def _header(entry: str) -> str:
    """The catalogue header, with the fields makemessages leaves as placeholders filled in."""
    entry = "\n".join(
        line
        for line in entry.splitlines()
        if line.startswith(("msgid", "msgstr", '"')) or line.startswith("# Spanish")
    )
    revised = datetime.now(UTC).strftime("%Y-%m-%d %H:%M+0000")
    for field, value in {**HEADER, "PO-Revision-Date": revised}.items():
        entry = re.sub(rf'"{field}: [^"]*\\n"', f'"{field}: {value}\\\\n"', entry)
    if not entry.startswith("#"):
        entry = "# Spanish translations of what families and students read.\n" + entry
    return entry


def _unfuzzy(head: str) -> str:
    """An entry's comments without makemessages' fuzzy guess: the flag (it may share its line,
    "#, fuzzy, python-format") and the previous msgid it kept ("#| msgid ...")."""
    lines = []
    for line in head.splitlines(keepends=True):
        if line.startswith("#|"):
            continue
        if line.startswith("#,"):
            flags = [f.strip() for f in line[2:].split(",") if f.strip() not in ("", "fuzzy")]
            if not flags:
                continue
            line = "#, " + ", ".join(flags) + "\n"
        lines.append(line)
    return "".join(lines)


def fill() -> tuple[int, int]:
    entries = PO.read_text(encoding="utf-8").split("\n\n")
    filled = missing = 0
    out = []
    for entry in entries:
        msgid = re.search(r'^msgid ((?:".*"\n?)+)', entry, re.M)
        if not msgid:
            out.append(entry)
            continue
        if _unquote(msgid.group(1)) == "":
            out.append(_header(entry))
            continue
        english = _unquote(msgid.group(1))
        plural = re.search(r"^msgid_plural ", entry, re.M)
        head = entry[: entry.index("msgstr")]
        if plural and english in PLURAL or not plural and english in SINGLE:
            head = _unfuzzy(head)
        if plural and english in PLURAL:
            one, many = PLURAL[english]
            # Spanish (CLDR) has three forms: one, "many" (millions) and other.
            entry = (
                head
                + f"msgstr[0] {_quote(one)}\nmsgstr[1] {_quote(many)}\nmsgstr[2] {_quote(many)}"
            )
            filled += 1
        elif not plural and english in SINGLE:
            entry = head + f"msgstr {_quote(SINGLE[english])}"
            filled += 1
        else:
            missing += 1
        out.append(entry)
    PO.write_text("\n\n".join(out), encoding="utf-8")
    return filled, missing


if __name__ == "__main__":
    filled, missing = fill()
    subprocess.run(
        ["msgfmt", "--check-format", "-o", str(PO.with_suffix(".mo")), str(PO)], check=True
    )
    print(f"{filled} messages translated from the table; {missing} left in English (staff pages).")
