"""Realistic sign-up, reset and notification mails, each with the code and first link a
test suite would want from it. Shared by tests/unit/test_extract.py and bench/extract_rate.py.

Built with the stdlib `email` package in every shape senders use: plain, HTML-only,
multipart/alternative, quoted-printable, base64, 8-bit; tracking redirects; eight languages;
some with no code at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    code: str | None  # the best code, None when the mail has none
    link: str | None  # the first link, None when the mail has none


def build(
    subject: str,
    *,
    text: str | None = None,
    html: str | None = None,
    cte: str = "quoted-printable",
    sender: tuple[str, str] = ("Acme", "no-reply@acme.example"),
) -> bytes:
    """A mail as a sender's library writes it: text, HTML or both (alternative)."""
    if cte == "7bit" and not all(part.isascii() for part in (text or "", html or "")):
        cte = "quoted-printable"  # 7bit cannot carry the footer's `©`
    msg = EmailMessage()
    msg["From"] = formataddr(sender)
    msg["To"] = "box@ephemail.test"
    msg["Subject"] = subject
    if text is not None:
        msg.set_content(text, cte=cte)
        if html is not None:
            msg.add_alternative(html, subtype="html", cte=cte)
    elif html is not None:
        msg.set_content(html, subtype="html", cte=cte)
    return msg.as_bytes()


def page(body: str, *, lang: str = "en") -> str:
    """An HTML mail as templates send them: a head with CSS colours, tables, a footer."""
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        "<style>body{color:#333333;background:#f4f4f4} .btn{background:#1a73e8;"
        "color:#ffffff} .code{font-size:32px;letter-spacing:6px;color:#202124}</style>"
        '</head><body><table width="100%" bgcolor="#f4f4f4"><tr><td align="center">'
        f'<table width="600" style="border:1px solid #e0e0e0"><tr><td>{body}</td></tr>'
        "</table></td></tr></table></body></html>"
    )


TRACK = "https://click.mail.example.net/ls/click?upn=aB3xK9-2fQ_{}&u="


def tracked(target: str, tag: str) -> str:
    from urllib.parse import quote

    return TRACK.format(tag) + quote(target, safe="")


UNSUB = "https://acme.example/email/unsubscribe?u=7f3a"
FOOT_EN = (
    '<p style="color:#999999;font-size:11px">Acme Inc, 350 Fifth Avenue, Suite 4100, '
    "New York, NY 10118. Call us at +1 (212) 555-0142. &copy; 2026 Acme.<br>"
    f'<a href="{UNSUB}">Unsubscribe</a> · <a href="https://acme.example/privacy">Privacy</a>'
    "</p>"
)
FOOT_TEXT = (
    "\n\n--\nAcme Inc, 350 Fifth Avenue, Suite 4100, New York, NY 10118\n"
    f"Phone +1 212 555 0142 · © 2026 Acme\nUnsubscribe: {UNSUB}\n"
)


def _cases() -> list[Case]:
    c: list[Case] = []

    def add(name: str, raw: bytes, code: str | None, link: str | None) -> None:
        c.append(Case(name, raw, code, link))

    # --- English -------------------------------------------------------------------------
    v = "https://app.acme.example/verify?token=Zx81kQ"
    add(
        "en_signup_alternative",
        build(
            "Confirm your Acme account",
            text=f"Hi Sam,\n\nYour verification code is 482913.\nOr confirm here: {v}{FOOT_TEXT}",
            html=page(
                f'<p>Hi Sam,</p><p>Your verification code is</p><p class="code">482913</p>'
                f'<p><a class="btn" href="{v}">Confirm email</a></p>{FOOT_EN}'
            ),
        ),
        "482913",
        v,
    )
    add(
        "en_otp_subject_plain",
        build(
            "739204 is your Acme login code",
            text="Use this one-time code to sign in. It expires in 10 minutes.\n\n"
            "If you didn't try to sign in, you can ignore this mail." + FOOT_TEXT,
            cte="7bit",
        ),
        "739204",
        UNSUB,
    )
    r = "https://acme.example/account/password/reset?key=Qm9vb2s"
    add(
        "en_reset_html_only",
        build(
            "Reset your password",
            html=page(
                "<h1>Forgot your password?</h1><p>We received a request on Dec 2, 2026 at "
                "14:05. Click below to choose a new one. The link works for 60 minutes.</p>"
                f'<a href="{r}" class="btn">Reset password</a>{FOOT_EN}'
            ),
        ),
        None,
        r,
    )
    m = "https://app.acme.example/auth/magic?t=eyJhbGciOi"
    add(
        "en_magic_link_base64",
        build(
            "Your sign-in link",
            text=f"Click the link below to sign in to Acme:\n\n{m}\n\nThis link expires in "
            f"15 minutes and can only be used once.{FOOT_TEXT}",
            html=page(
                f'<p>Click the button to sign in.</p><a href="{m}">Sign in to Acme</a>{FOOT_EN}'
            ),
            cte="base64",
        ),
        None,
        m,
    )
    t = tracked("https://shop.example/account/activate?id=551&sig=9f", "a1")
    add(
        "en_tracking_activate",
        build(
            "Activate your ShopCo account",
            html=page(
                "<p>Welcome to ShopCo! Your order #884213 is saved for later.</p>"
                f'<p><a href="{tracked("https://shop.example/deals", "a0")}">Today\'s '
                f'deals</a></p><p><a href="{t}">Activate account</a></p>{FOOT_EN}'
            ),
        ),
        None,
        t,
    )
    add(
        "en_security_code_spaced",
        build(
            "Your security code",
            text="Your Acme security code is 592 018\n\nDon't share it with anyone. Acme will "
            "never call you to ask for it." + FOOT_TEXT,
        ),
        "592018",
        UNSUB,
    )
    add(
        "en_alnum_code",
        build(
            "Verify your email",
            text="Enter this verification code in the app: X4T9QZ\n\nThe code is valid for 30 "
            "minutes." + FOOT_TEXT,
            cte="7bit",
        ),
        "X4T9QZ",
        UNSUB,
    )
    add(
        "en_dashed_code",
        build(
            "Your sign-in code",
            html=page(
                '<p>Here is your sign-in code:</p><p style="font-size:28px">A7K-9QX</p>'
                "<p>It expires in 5 minutes.</p>"
            ),
        ),
        "A7K-9QX",
        None,
    )
    add(
        "en_pin_4",
        build(
            "Your PIN",
            text="Your temporary PIN: 8831\nCall +1 800 555 0199 if this wasn't you.",
        ),
        "8831",
        None,
    )
    add(
        "en_receipt_no_code",
        build(
            "Your receipt from ShopCo",
            html=page(
                "<p>Thanks for your order #5512093, placed on 12/02/2026.</p><table><tr>"
                "<td>Headphones</td><td>$149.99</td></tr><tr><td>Total</td><td>$162.37"
                "</td></tr></table><p>Ships to 1600 Amphitheatre Pkwy, CA 94043.</p>"
                f'<a href="https://shop.example/orders/5512093">View order</a>{FOOT_EN}'
            ),
        ),
        None,
        "https://shop.example/orders/5512093",
    )
    add(
        "en_newsletter_no_code",
        build(
            "This week at Acme",
            text="New in 2026: dark mode, 3 new integrations and 40% faster search.\n"
            "Read more: https://blog.acme.example/2026/12/whats-new" + FOOT_TEXT,
        ),
        None,
        "https://blog.acme.example/2026/12/whats-new",
    )
    add(
        "en_promo_not_a_code",
        build(
            "20% off this weekend",
            html=page(
                "<p>Use promo code SAVE2026 at checkout. Offer ends 12/06.</p>"
                '<a href="https://shop.example/sale">Shop the sale</a>' + FOOT_EN
            ),
        ),
        None,
        "https://shop.example/sale",
    )
    add(
        "en_2fa_code_after_phone",
        build(
            "Two-factor authentication",
            text="We'll never ask for your password. Support: +44 20 7946 0958.\n\n"
            "Your 2FA code: 604117\n",
            cte="base64",
        ),
        "604117",
        None,
    )
    add(
        "en_confirm_subscription",
        build(
            "Please confirm your subscription",
            text="Please confirm you want to receive our newsletter:\n"
            "https://list.example.org/subscribe/confirm?id=aa81&h=3c\n\n"
            "To unsubscribe at any time: https://list.example.org/unsubscribe?id=aa81",
        ),
        None,
        "https://list.example.org/subscribe/confirm?id=aa81&h=3c",
    )
    add(
        "en_code_in_table_cells",
        build(
            "Verification code",
            html=page(
                "<p>Your verification code:</p><table><tr><td>3</td><td>8</td></tr></table>"
                '<p style="font-size:30px"><b>381 904</b></p><p>Valid for 10 minutes.</p>'
            ),
        ),
        "381904",
        None,
    )
    add(
        "en_github_style",
        build(
            "[GitHub] Please verify your device",
            text="Hey sam!\n\nA sign in attempt requires further verification because we did not "
            "recognize your device. To complete the sign in, enter the verification code on the "
            "unrecognized device.\n\nDevice: Firefox on Linux\nVerification code: 170284\n\n"
            "If you did not attempt to sign in to your account, your password may be "
            "compromised. Visit https://github.example/settings/security to create a new, "
            "strong password for your account.\n\nThanks,\nThe GitHub Team",
        ),
        "170284",
        "https://github.example/settings/security",
    )
    add(
        "en_slack_style_dashed",
        build(
            "Slack confirmation code: 4A9-K2P",
            html=page(
                "<h1>Confirm your email address</h1><p>Your confirmation code is below — "
                "enter it in your open browser window and we'll help you get signed in."
                '</p><div style="background:#F5F4F5">4A9-K2P</div>'
            ),
        ),
        "4A9-K2P",
        None,
    )
    # --- German --------------------------------------------------------------------------
    v = "https://konto.beispiel.de/bestaetigen?k=9XyA"
    add(
        "de_bestaetigung_alt",
        build(
            "Bitte bestätigen Sie Ihre E-Mail-Adresse",
            text=f"Hallo Anna,\n\nIhr Bestätigungscode lautet: 739201\n\nOder klicken Sie hier: "
            f"{v}\n\nBeispiel GmbH, Hauptstraße 5, 10115 Berlin, Tel. 030 1234567",
            html=page(
                f"<p>Hallo Anna,</p><p>Ihr Bestätigungscode lautet:</p><h2>739201</h2>"
                f'<a href="{v}">E-Mail-Adresse bestätigen</a><p>Beispiel GmbH, '
                "Hauptstraße 5, 10115 Berlin</p>",
                lang="de",
            ),
            sender=("Beispiel", "info@beispiel.de"),
        ),
        "739201",
        v,
    )
    r = "https://konto.beispiel.de/passwort/neu?t=k29"
    add(
        "de_reset_html",
        build(
            "Passwort zurücksetzen",
            html=page(
                f'<p>Sie haben ein neues Passwort angefordert.</p><a href="{r}">Passwort '
                'zurücksetzen</a><p><a href="https://beispiel.de/newsletter/abmelden">'
                "Newsletter abbestellen</a></p>",
                lang="de",
            ),
            cte="base64",
        ),
        None,
        r,
    )
    add(
        "de_tan_plain",
        build(
            "Ihre TAN",
            text="Ihre TAN für die Anmeldung: 55120934\nGültig bis 14:30 Uhr.",
            cte="8bit",
        ),
        "55120934",
        None,
    )
    add(
        "de_rechnung_no_code",
        build(
            "Ihre Rechnung 2026-1182",
            text="Rechnungsnummer 20261182, Betrag 49,90 €, fällig am 15.12.2026.\n"
            "Kundennummer 448812.",
            cte="8bit",
        ),
        None,
        None,
    )
    add(
        "de_einmalcode_subject",
        build(
            "Ihr Einmalcode: 318842",
            text="Geben Sie den Einmalcode in der App ein. Er ist 10 Minuten gültig.",
        ),
        "318842",
        None,
    )
    # --- French --------------------------------------------------------------------------
    v = "https://compte.exemple.fr/verifier?jeton=ab12"
    add(
        "fr_verification_alt",
        build(
            "Vérifiez votre adresse e-mail",
            text=f"Bonjour,\n\nVotre code de vérification est : 527716\n\nOu cliquez ici : {v}\n",
            html=page(
                f"<p>Bonjour,</p><p>Votre code de vérification est :</p><p>527716</p>"
                f'<a href="{v}">Vérifier mon adresse</a>',
                lang="fr",
            ),
        ),
        "527716",
        v,
    )
    r = "https://compte.exemple.fr/mdp/reinit?t=77"
    add(
        "fr_reset_html",
        build(
            "Réinitialisation du mot de passe",
            html=page(
                f'<p>Vous avez demandé à changer votre mot de passe.</p><a href="{r}">'
                "Réinitialiser le mot de passe</a><p>Commande n° 447120 livrée au 75008 "
                "Paris.</p>",
                lang="fr",
            ),
        ),
        None,
        r,
    )
    add(
        "fr_usage_unique_base64",
        build(
            "Votre code à usage unique",
            text="Voici votre code à usage unique : 90 41 est incorrect, utilisez 904133.",
            cte="base64",
        ),
        "904133",
        None,
    )
    add(
        "fr_connexion_magic",
        build(
            "Lien de connexion",
            text="Pour vous connecter, utilisez ce lien :\nhttps://app.exemple.fr/connexion/"
            "lien?t=Yz9\n\nSe désinscrire : https://app.exemple.fr/desinscription",
        ),
        None,
        "https://app.exemple.fr/connexion/lien?t=Yz9",
    )
    # --- Spanish -------------------------------------------------------------------------
    v = "https://cuenta.ejemplo.es/verificar?t=5"
    add(
        "es_codigo_alt",
        build(
            "Tu código de verificación",
            text=f"Hola,\n\nTu código de verificación es 902134.\n\nVerifica tu cuenta: {v}\n",
            html=page(
                f"<p>Tu código de verificación es <b>902134</b>.</p>"
                f'<a href="{v}">Verificar cuenta</a>',
                lang="es",
            ),
        ),
        "902134",
        v,
    )
    r = "https://cuenta.ejemplo.es/restablecer?t=5"
    add(
        "es_reset_qp",
        build(
            "Restablecer contraseña",
            html=page(
                f'<p>Para restablecer tu contraseña, haz clic en el botón.</p><a href="{r}">'
                "Restablecer contraseña</a><p>Pedido 1182736, total 29,99 €</p>",
                lang="es",
            ),
        ),
        None,
        r,
    )
    add(
        "es_clave_subject",
        build(
            "Tu clave de seguridad: 6620",
            text="Introduce la clave en la aplicación. Caduca en 5 minutos.",
            cte="8bit",
        ),
        "6620",
        None,
    )
    # --- Portuguese ----------------------------------------------------------------------
    v = "https://conta.exemplo.com.br/confirmar?c=77"
    add(
        "pt_codigo_alt",
        build(
            "Confirme seu cadastro",
            text=f"Olá!\n\nSeu código de verificação é 771204.\n\nConfirmar cadastro: {v}\n"
            "CEP 01310-100, São Paulo",
            html=page(
                f'<p>Seu código de verificação é</p><p>771204</p><a href="{v}">Confirmar '
                "cadastro</a><p>CEP 01310-100, São Paulo</p>",
                lang="pt",
            ),
        ),
        "771204",
        v,
    )
    r = "https://conta.exemplo.com.br/senha/redefinir?t=1"
    add(
        "pt_reset_base64",
        build(
            "Redefinição de senha",
            html=page(
                f'<p>Recebemos um pedido para redefinir sua senha.</p><a href="{r}">'
                "Redefinir senha</a>",
                lang="pt",
            ),
            cte="base64",
        ),
        None,
        r,
    )
    add(
        "pt_senha_unica",
        build(
            "Código de acesso",
            text="Use o código 448190 para entrar. Não compartilhe.",
        ),
        "448190",
        None,
    )
    # --- Russian -------------------------------------------------------------------------
    v = "https://id.primer.ru/confirm?t=r1"
    add(
        "ru_kod_alt",
        build(
            "Подтвердите адрес почты",
            text=f"Здравствуйте!\n\nВаш код подтверждения: 613048\n\nИли по ссылке: {v}\n",
            html=page(
                f'<p>Ваш код подтверждения:</p><p>613048</p><a href="{v}">Подтвердить адрес</a>',
                lang="ru",
            ),
            cte="base64",
        ),
        "613048",
        v,
    )
    r = "https://id.primer.ru/restore?t=r2"
    add(
        "ru_reset_html",
        build(
            "Восстановление пароля",
            html=page(
                f'<p>Чтобы сбросить пароль, нажмите кнопку.</p><a href="{r}">Сбросить '
                "пароль</a><p>Телефон поддержки: 8 800 555 35 35</p>",
                lang="ru",
            ),
        ),
        None,
        r,
    )
    add(
        "ru_odnorazoviy",
        build(
            "Одноразовый пароль",
            text="Одноразовый пароль для входа: 2291. Никому его не сообщайте.",
            cte="8bit",
        ),
        "2291",
        None,
    )
    # --- Chinese -------------------------------------------------------------------------
    add(
        "zh_yanzhengma_plain",
        build(
            "【示例】验证码",
            text="您的验证码是：482913，5分钟内有效。请勿泄露给他人。客服电话：400-820-8820",
            cte="base64",
        ),
        "482913",
        None,
    )
    v = "https://passport.example.cn/activate?code=zz"
    add(
        "zh_activate_html",
        build(
            "激活您的账户",
            html=page(
                f'<p>感谢注册！您的验证码为 <b>730155</b>。</p><a href="{v}">激活账户</a>'
                '<p><a href="https://example.cn/unsub">退订</a></p>',
                lang="zh",
            ),
        ),
        "730155",
        v,
    )
    r = "https://passport.example.cn/reset?t=9"
    add(
        "zh_reset_qp",
        build(
            "重置密码",
            html=page(f'<p>您申请了重置密码。</p><a href="{r}">重置密码</a>', lang="zh"),
        ),
        None,
        r,
    )
    # --- Greek ---------------------------------------------------------------------------
    v = "https://logariasmos.paradeigma.gr/epalitheusi?t=g1"
    add(
        "el_kodikos_alt",
        build(
            "Επαλήθευση email",
            text=f"Γεια σας,\n\nΟ κωδικός επαλήθευσης είναι 390217\n\nΕπιβεβαίωση: {v}\n",
            html=page(
                f'<p>Ο κωδικός επαλήθευσης είναι</p><p>390217</p><a href="{v}">'
                "Επιβεβαίωση διεύθυνσης</a>",
                lang="el",
            ),
        ),
        "390217",
        v,
    )
    add(
        "el_mias_xrisis_base64",
        build(
            "Κωδικός μίας χρήσης",
            text="Ο κωδικός μιας χρήσης σας: 5048. Λήγει σε 10 λεπτά. Τηλέφωνο: 210 123 4567",
            cte="base64",
        ),
        "5048",
        None,
    )
    r = "https://logariasmos.paradeigma.gr/epanafora?t=g2"
    add(
        "el_reset_html",
        build(
            "Επαναφορά κωδικού πρόσβασης",
            html=page(
                f'<p>Πατήστε για επαναφορά.</p><a href="{r}">Επαναφορά κωδικού</a>', lang="el"
            ),
        ),
        None,
        r,
    )
    # --- more shapes ---------------------------------------------------------------------
    add(
        "en_code_after_colon_newline",
        build(
            "Finish signing up",
            text="Enter the following code to finish signing up:\n\n    250613\n\n"
            "Order ref 77120455 · 2026",
            cte="7bit",
        ),
        "250613",
        None,
    )
    add(
        "en_shipping_no_code",
        build(
            "Your package is on its way",
            text="Tracking number 1Z999AA10123456784. Estimated delivery Dec 4, 2026.\n"
            "Track: https://ship.example/track/1Z999AA10123456784",
        ),
        None,
        "https://ship.example/track/1Z999AA10123456784",
    )
    t = tracked("https://app.acme.example/confirm-email?u=19", "c3")
    add(
        "en_tracked_click_here",
        build(
            "One more step",
            html=page(
                f'<p>Please <a href="{t}">click here</a> to confirm your email address.'
                f"</p>{FOOT_EN}"
            ),
        ),
        None,
        t,
    )
    return c


CASES = _cases()
